"""Locust's ``LoadTestShape`` in a duet round: the shape's users, alike on each side.

Locust's own shape worker hands the shape's total to its dispatcher, which knows
nothing of sides. perfgate drives the users itself instead: every second it asks
the shape for ``(users, spawn_rate[, user_classes])``, read per side like ``users``
in perfgate.toml, and moves every side's users of every class towards that count
at the spawn rate, all sides in step. The k-th user of a class starts and stops
at the same moment on each side, so task streams stay paired (see
:func:`perfgate.load.worker.pair_task_streams`).

Runs only inside the load process (Locust is imported by its callers).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from locust import User
    from locust.runners import Runner
    from locust.shape import LoadTestShape

#: Seconds between two of the shape's ticks (Locust's own cadence) and between two ramp steps.
TICK_S = 1.0
STEP_S = 0.1


class ShapeError(Exception):
    """The scenario's ``shape`` names no shape class of the locustfile, or several could apply."""


def pick_shape(found: Sequence[LoadTestShape], wanted: str | bool) -> LoadTestShape | None:
    """The shape a scenario runs: the one named, Locust's only one (``True``), or none (``False``)."""
    names = {type(s).__name__: s for s in found}
    if wanted is False:
        return None
    if isinstance(wanted, str):
        if wanted not in names:
            raise ShapeError(f"shape: no LoadTestShape {wanted!r} (found: {', '.join(sorted(names)) or 'none'})")
        return names[wanted]
    if len(names) > 1:
        several = ", ".join(sorted(names))
        raise ShapeError(f"shape: the locustfile has {len(names)} LoadTestShape classes; name one ({several})")
    return next(iter(names.values()), None)


def user_counts(users: int, classes: Sequence[type], *, every_class: bool) -> list[int]:
    """Users per class: ``fixed_count`` first, the rest by ``weight`` (largest remainder).

    ``every_class``: a fixed-size round, where every weighted class gets at least one
    user. Under a shape the total is exact instead, and a class may get none.
    """
    fixed = [getattr(c, "fixed_count", 0) or 0 for c in classes]
    weighted = [i for i, f in enumerate(fixed) if f <= 0]
    if every_class:
        counts, left = list(fixed), max(users - sum(fixed), len(weighted))
    else:
        counts, left = [0] * len(classes), users
        for i, f in enumerate(fixed):
            counts[i] = min(f, left)
            left -= counts[i]
    if not weighted or left <= 0:
        return counts
    weights = [max(getattr(classes[i], "weight", 1), 1) for i in weighted]
    shares = [left * w / sum(weights) for w in weights]
    for i, share in zip(weighted, shares):
        counts[i] = max(1, int(share)) if every_class else int(share)
    order = sorted(range(len(weighted)), key=lambda k: shares[k] - int(shares[k]), reverse=True)
    for k in order[: max(0, left - sum(counts[i] for i in weighted))]:
        counts[weighted[k]] += 1
    return counts


def read_tick(tick: Any, classes: Sequence[type]) -> tuple[list[int], float]:
    """One tick's per-class target counts and spawn rate (per side)."""
    users, rate, *rest = tick
    chosen = {c.__name__ for c in rest[0]} if rest and rest[0] else None
    picked = [c for c in classes if chosen is None or c.__name__ in chosen]
    counts = iter(user_counts(int(users), picked, every_class=False))
    return [next(counts) if chosen is None or c.__name__ in chosen else 0 for c in classes], float(rate)


class ShapeDriver:
    """Runs ``shape`` over the side classes ``sides[side][i]`` (class i of the locustfile, on one side)."""

    def __init__(
        self, shape: LoadTestShape, runner: Runner, classes: Sequence[type], sides: Sequence[Sequence[type[User]]]
    ):
        self.shape, self.runner, self.classes, self.sides = shape, runner, classes, sides
        self.live: list[list[list[User]]] = [[[] for _ in classes] for _ in sides]  # users per side and class
        shape.runner = runner  # Locust's contract: get_current_user_count() (it counts every side)

    def run(self, end: float) -> None:
        """Tick and ramp until the shape says stop (``tick()`` returns None) or ``end`` (monotonic)."""
        self.shape.reset_time()  # type: ignore[no-untyped-call]  # Locust leaves it unannotated
        budget, target, rate, next_tick = 0.0, [0] * len(self.classes), 1.0, 0.0
        while (now := time.monotonic()) < end:
            if now >= next_tick:
                tick = self.shape.tick()
                if tick is None:
                    return
                target, rate = read_tick(tick, self.classes)
                next_tick = now + TICK_S
            budget = min(budget + rate * STEP_S, max(rate, 1.0))
            budget -= self._step(target, int(budget))
            self._sleep(STEP_S)

    def _step(self, target: list[int], budget: int) -> int:
        """Start or stop up to ``budget`` users a side towards ``target``; how many moved."""
        moved = 0
        for i, want in enumerate(target):
            have = len(self.live[0][i])
            n = min(abs(want - have), budget - moved)
            if n <= 0:
                continue
            for side, side_classes in enumerate(self.sides):
                if want > have:
                    self.live[side][i] += self.runner.spawn_users({side_classes[i].__name__: n})
                else:
                    for user in [self.live[side][i].pop() for _ in range(n)]:  # the newest first
                        user.stop(force=True)
            moved += n
        return moved

    @staticmethod
    def _sleep(seconds: float) -> None:
        import gevent

        gevent.sleep(seconds)
