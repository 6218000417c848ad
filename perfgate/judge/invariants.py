"""Hard checks that no latency can excuse: a database outage must degrade, not kill.

A candidate that loses acknowledged writes, goes down, or fails reads and logins
during an outage that the baseline survived is a regression, whatever its
latency. These are counts, not noisy estimates, so they are checked exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

from perfgate.model import Basis, FailoverFigures, MetricComparison, Reason, State, Verdict

READS_OK_GOAL = 0.999
NAME = "(failover)"


def _worst(
    figures: Sequence[FailoverFigures],
    value: Callable[[FailoverFigures], float | None],
    pick: Callable[[list[float]], float],
) -> float:
    values = [v for f in figures if (v := value(f)) is not None]
    return float(pick(values)) if values else math.nan


def failover_checks(figures: Sequence[FailoverFigures]) -> list[MetricComparison]:
    """One comparison per scenario and check, from each round's per-side failover figures
    (each tagged with its round's scenario)."""
    out = []
    for scenario in sorted({f.scenario for f in figures}):
        sides = {
            side: [f for f in figures if f.scenario == scenario and f.side == side]
            for side in ("baseline", "candidate")
        }
        if not sides["baseline"] or not sides["candidate"]:
            continue
        base, cand = sides["baseline"], sides["candidate"]
        lost_b, lost_c = _worst(base, _acked_lost, sum), _worst(cand, _acked_lost, sum)
        out.append(
            _check(
                scenario,
                "acked_lost",
                lost_b,
                lost_c,
                bad=lost_c > 0,
            )
        )
        down_b = float(any(f.target_exited for f in base))
        down_c = float(any(f.target_exited for f in cand))
        out.append(
            _check(
                scenario,
                "went_down",
                down_b,
                down_c,
                bad=down_c > down_b,
            )
        )
        ok_b, ok_c = _worst(base, _reads_ok, min), _worst(cand, _reads_ok, min)
        bad = (ok_c < READS_OK_GOAL or math.isnan(ok_c)) and not (ok_b < READS_OK_GOAL)
        out.append(
            _check(
                scenario,
                "outage_reads_ok",
                ok_b,
                ok_c,
                bad=bad,
                higher_is_better=True,
                margin=1.0 - READS_OK_GOAL,  # the share of reads and logins that may fail
            )
        )
    return out


def _acked_lost(f: FailoverFigures) -> float | None:
    return f.acked_lost


def _reads_ok(f: FailoverFigures) -> float | None:
    return f.reads_ok_rate


def _check(
    scenario: str,
    metric: str,
    baseline: float,
    candidate: float,
    *,
    bad: bool,
    higher_is_better: bool = False,
    margin: float = 0.0,
) -> MetricComparison:
    state = State.REGRESSION if bad else State.PASS
    ratio = candidate / baseline if baseline else (1.0 if candidate == baseline else math.inf)
    return MetricComparison(
        scenario=scenario,
        name=NAME,
        metric=metric,
        baseline=baseline,
        candidate=candidate,
        ratio=ratio,
        ci_low=math.nan,
        ci_high=math.nan,
        p_value=math.nan,
        verdict=state,
        why=Reason(Basis.CHECK),
        margin=margin,
        rounds=0,
        higher_is_better=higher_is_better,
    )


def with_checks(verdict: Verdict, checks: Sequence[MetricComparison]) -> Verdict:
    """The verdict with hard checks (and absolute limits) added: a failed one is a regression and
    comes first; an undecided one leaves a passing verdict inconclusive, and then comes first."""
    failed = [c for c in checks if c.verdict is State.REGRESSION]
    rest = [c for c in checks if c.verdict is not State.REGRESSION]
    undecided = [c for c in rest if c.verdict is State.INCONCLUSIVE]
    if not failed and undecided and verdict.state is State.PASS:
        others = [c for c in rest if c not in undecided]
        return replace(verdict, state=State.INCONCLUSIVE, metrics=(*undecided, *verdict.metrics, *others))
    state = State.REGRESSION if failed else verdict.state
    return replace(verdict, state=state, metrics=(*failed, *verdict.metrics, *rest))
