"""From metric states to the gate's verdict: the ranking, and the context a CPU cost needs.

Nothing here computes a statistic (:mod:`perfgate.judge.compare` decides), and nothing
writes a sentence: reasons are data (:class:`perfgate.model.Reason`), put into words by
:mod:`perfgate.formatting`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from perfgate.judge.rules import STATE_ORDER
from perfgate.model import MetricComparison, Revision, State, Verdict


def with_cpu_context(results: list[MetricComparison]) -> list[MetricComparison]:
    """A CPU-cost regression names where it shows: CPU is measured for the whole target (a
    process cannot be split by endpoint), so its reason carries each request name's p50
    change in absolute terms beside it; a CPU cost hidden under a fixed wait shows as a
    tiny latency delta there."""
    out = []
    for m in results:
        if m.metric == "cpu_per_request" and m.verdict is State.REGRESSION:
            beside = tuple(
                (o.name, o.candidate - o.baseline)
                for o in results
                if o.scenario == m.scenario and o.metric == "p50" and math.isfinite(o.candidate - o.baseline)
            )
            m = replace(m, why=replace(m.why, beside=beside))
        out.append(m)
    return out


def verdict_of(
    comparisons: Sequence[MetricComparison], baseline: Revision, candidate: Revision, **fields: Any
) -> Verdict:
    """Gate state from metric states: any regression, else any inconclusive, else pass. The
    metrics are ranked: regressions, then inconclusive ones, each the furthest past its margin first."""
    ranked = sorted(comparisons, key=lambda m: (STATE_ORDER[m.verdict], -_excess(m)))
    states = {m.verdict for m in ranked}
    if State.REGRESSION in states:
        state = State.REGRESSION
    elif State.INCONCLUSIVE in states or not ranked:
        state = State.INCONCLUSIVE
    else:
        state = State.PASS
    return Verdict(state=state, metrics=tuple(ranked), baseline=baseline, candidate=candidate, **fields)


def _excess(m: MetricComparison) -> float:
    """How far the worse end of the CI goes past the margin, in margins (comparable across metrics)."""
    if m.metric == "error_rate":
        over = m.ci_high - m.margin
    elif m.higher_is_better:
        over = (1.0 - m.margin) - m.ci_low
    else:
        over = m.ci_high - (1.0 + m.margin)
    return over / m.margin if math.isfinite(over) and m.margin > 0 else (math.inf if not math.isfinite(over) else over)
