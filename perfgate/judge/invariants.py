"""Hard checks that no latency can excuse: a database outage must degrade, not kill, and so
must the outage of every redundant backend of a group (hang, crash, users logged out).

A candidate that loses acknowledged writes, goes down, or fails reads and logins
during an outage that the baseline survived is a regression, whatever its
latency. These are counts, not noisy estimates, so they are checked exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from perfgate.figures import FailoverFigures, RedundancyFigures
from perfgate.model import Basis, MetricComparison, Reason, State, Verdict

READS_OK_GOAL = 0.999
NAME = "(failover)"


_F = TypeVar("_F", FailoverFigures, RedundancyFigures)


def _worst(
    figures: Sequence[_F],
    value: Callable[[_F], float | None],
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
    name: str = NAME,
) -> MetricComparison:
    state = State.REGRESSION if bad else State.PASS
    ratio = candidate / baseline if baseline else (1.0 if candidate == baseline else math.inf)
    return MetricComparison(
        scenario=scenario,
        name=name,
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


REDUNDANCY = "(redundancy)"
#: A login during the all-down phase must be answered fast (a 503), not hang.
HANG_MS = 1000.0
#: Logged-in users keep chatting while every backend is down; logins succeed while one is up.
CHAT_OK_GOAL = 0.95
CHAT_CONTINUITY_GOAL = 0.5  # good sends per second while all down, as a share of all up
LOGIN_OK_GOAL = 0.95


def redundancy_checks(figures: Sequence[RedundancyFigures]) -> list[MetricComparison]:
    """Per scenario: the service must not go down, hang logins or log users out while every
    redundant backend is down, and must keep logins working while at least one is up."""
    out = []
    for scenario in sorted({f.scenario for f in figures}):
        base = [f for f in figures if f.scenario == scenario and f.side == "baseline"]
        cand = [f for f in figures if f.scenario == scenario and f.side == "candidate"]
        if not base or not cand:
            continue
        down_b, down_c = float(any(f.target_exited for f in base)), float(any(f.target_exited for f in cand))
        out.append(_check(scenario, "went_down", down_b, down_c, bad=down_c > down_b, name=REDUNDANCY))
        hang_b, hang_c = _worst(base, _all_down_login_ms, max), _worst(cand, _all_down_login_ms, max)
        bad = hang_c > HANG_MS or (math.isnan(hang_c) and not math.isnan(hang_b))  # no login came back at all
        out.append(_check(scenario, "all_down_login_p50_ms", hang_b, hang_c, bad=bad, name=REDUNDANCY))
        for metric, value, goal in (
            ("all_down_chat_ok", _all_down_chat_ok, CHAT_OK_GOAL),
            ("all_down_chat_continuity", _chat_continuity, CHAT_CONTINUITY_GOAL),
            ("degraded_login_ok", _degraded_login_ok, LOGIN_OK_GOAL),
        ):
            ok_b, ok_c = _worst(base, value, min), _worst(cand, value, min)
            bad = (ok_c < goal or math.isnan(ok_c)) and not (ok_b < goal or math.isnan(ok_b))
            out.append(
                _check(scenario, metric, ok_b, ok_c, bad=bad, higher_is_better=True, margin=1.0 - goal, name=REDUNDANCY)
            )
    return out


def _all_down_login_ms(f: RedundancyFigures) -> float | None:
    phase = f.phase("all down")
    return phase.login_p50_ms if phase else None


def _all_down_chat_ok(f: RedundancyFigures) -> float | None:
    phase = f.phase("all down")
    if phase is None:
        return None
    return phase.send_ok_rate if phase.sends else 0.0  # logged-in users who cannot send at all lost chat


def _chat_continuity(f: RedundancyFigures) -> float | None:
    return f.chat_continuity


def _degraded_login_ok(f: RedundancyFigures) -> float | None:
    """Logins while some members are down and none came back yet (at least one is up)."""
    degraded = [p for p in f.phases if p.phase.endswith(" down") and p.phase != "all down" and p.logins]
    total = sum(p.logins for p in degraded)
    return sum((p.login_ok_rate or 0.0) * p.logins for p in degraded) / total if total else None
