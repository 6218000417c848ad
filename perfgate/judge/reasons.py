"""The judge's words: one-line reasons for metrics and verdicts, built from the numbers.

Nothing here computes a statistic; :mod:`perfgate.judge.compare` decides, this says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from perfgate.formatting import MINUS, delta_ms, percent, points
from perfgate.judge.rules import MIN_PAIRS, STATE_ORDER
from perfgate.model import MetricComparison, Revision, State, Verdict


def with_cpu_context(results: list[MetricComparison]) -> list[MetricComparison]:
    """A CPU-cost regression names where it shows: CPU is measured for the whole target (a
    process cannot be split by endpoint), so its reason lists each request name's p50
    change in absolute terms beside it; a CPU cost hidden under a fixed wait shows as a
    tiny latency delta there."""
    out = []
    for m in results:
        if m.metric == "cpu_per_request" and m.verdict is State.REGRESSION:
            deltas = [
                f"{o.name} {delta_ms(o.candidate - o.baseline)}"
                for o in results
                if o.scenario == m.scenario and o.metric == "p50" and math.isfinite(o.candidate - o.baseline)
            ]
            if deltas:
                m = replace(m, reason=f"{m.reason} (scenario {m.scenario}; p50 beside it: {', '.join(deltas)})")
        out.append(m)
    return out


def metric_reason(m: MetricComparison, pairs: int, fisher_p: float = math.nan) -> str:
    """A one-line human reason, e.g. "regression: p95 login +18% [+12%, +25%] above the 5% margin"."""
    label = f"{m.metric} {m.name}"
    after = f"after {m.rounds} rounds"
    if pairs < MIN_PAIRS:
        return f"inconclusive: {label}: only {pairs} round pair{'s' * (pairs != 1)} (need {MIN_PAIRS}), never a pass"
    if m.metric == "error_rate":
        what = (
            f"{label} {m.baseline:.2%} \u2192 {m.candidate:.2%} ({points(m.candidate - m.baseline)} "
            f"[{points(m.ci_low)}, {points(m.ci_high)}]"
        )
        extra = f", Fisher p={fisher_p:.2g})" if math.isfinite(fisher_p) and fisher_p < 1 else ")"
        tolerance = f"the {m.margin * 100:.2f} pp tolerance"
        return {
            State.REGRESSION: f"regression: {what}{extra} above {tolerance}",
            State.IMPROVEMENT: f"improvement: {what}{extra}",
            State.PASS: f"pass: {what}{extra} within {tolerance}",
            State.INCONCLUSIVE: f"inconclusive: {what}{extra} straddles {tolerance} {after}",
        }[m.verdict]
    what = f"{label} {percent(m.ratio)} [{percent(m.ci_low)}, {percent(m.ci_high)}]"
    margin = f"{MINUS if m.higher_is_better else '+'}{m.margin * 100:g}% margin"
    return {
        State.REGRESSION: f"regression: {what} {'below' if m.higher_is_better else 'above'} the {margin}",
        State.IMPROVEMENT: f"improvement: {what}",
        State.PASS: f"pass: {what} within the {margin}",
        State.INCONCLUSIVE: f"inconclusive: {label} {percent(m.ratio)}, CI [{percent(m.ci_low)}, {percent(m.ci_high)}] "
        f"straddles the {margin} {after}",
    }[m.verdict]


def verdict_of(
    comparisons: Sequence[MetricComparison], baseline: Revision, candidate: Revision, **fields: Any
) -> Verdict:
    """Gate state from metric states: any regression, else any inconclusive, else pass."""
    ranked = sorted(comparisons, key=lambda m: (STATE_ORDER[m.verdict], -_excess(m)))
    states = {m.verdict for m in ranked}
    if State.REGRESSION in states:
        state = State.REGRESSION
    elif State.INCONCLUSIVE in states or not ranked:
        state = State.INCONCLUSIVE
    else:
        state = State.PASS
    return Verdict(
        state=state,
        reason=verdict_reason(state, ranked),
        metrics=tuple(ranked),
        baseline=baseline,
        candidate=candidate,
        **fields,
    )


def _excess(m: MetricComparison) -> float:
    """How far the worse end of the CI goes past the margin, in margins (comparable across metrics)."""
    if m.metric == "error_rate":
        over = m.ci_high - m.margin
    elif m.higher_is_better:
        over = (1.0 - m.margin) - m.ci_low
    else:
        over = m.ci_high - (1.0 + m.margin)
    return over / m.margin if math.isfinite(over) and m.margin > 0 else (math.inf if not math.isfinite(over) else over)


def verdict_reason(state: State, ranked: Sequence[MetricComparison]) -> str:
    """One line naming the worst metric(s)."""
    if not ranked:
        return "inconclusive: no metric had enough requests to judge"
    scenarios = {m.scenario for m in ranked}

    def named(m: MetricComparison) -> str:
        text = m.reason.split(": ", 1)[1]
        return f"{m.scenario}/{text}" if len(scenarios) > 1 else text  # "storm/p95 /feed …"

    worst = [m for m in ranked if m.verdict is state] if state is not State.PASS else ranked[:1]
    head = named(worst[0])
    more = f" (and {len(worst) - 1} more)" if len(worst) > 1 else ""
    if state is State.PASS:
        return f"pass: all {len(ranked)} metrics within their margins; closest: {head}"
    return f"{state.value}: {head}{more}"
