"""Lays out rounds so that drift on a noisy machine hits both sides alike.

- duet: each round runs both sides at once; which side starts first (its target
  launched first, its users spawned first) alternates from pair to pair, across the
  planned and the confirmation pairs alike, so any two consecutive pairs are balanced.
- interleaved: each pair is two rounds, one per side, in random order
  (randomized multiple interleaved trials: A B | B A | A B ...).
"""

from __future__ import annotations

import random

from perfgate.model import Design, RoundSpec, Side

SIDES = (Side.BASELINE, Side.CANDIDATE)


def plan_pairs(
    scenario: str,
    design: Design,
    pairs: int,
    *,
    first_index: int = 0,
    first_pair: int = 0,
    rng: random.Random,
    confirmation: bool = False,
    flip: bool | None = None,
) -> list[RoundSpec]:
    """Rounds for ``pairs`` pairs from pair ``first_pair`` on. ``flip``: whether even duet pairs
    start with the candidate; a gate draws it once, so that its later calls keep alternating
    (None: drawn from ``rng`` for this call)."""
    specs: list[RoundSpec] = []
    index = first_index
    if flip is None:
        flip = rng.random() < 0.5
    for pair in range(first_pair, first_pair + pairs):
        if design is Design.DUET:
            order = SIDES if (pair % 2 == 0) != flip else SIDES[::-1]
            specs.append(RoundSpec(index, scenario, order, pair, confirmation))
            index += 1
        else:
            order = SIDES if rng.random() < 0.5 else SIDES[::-1]
            for side in order:
                specs.append(RoundSpec(index, scenario, (side,), pair, confirmation))
                index += 1
    return specs
