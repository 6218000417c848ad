"""What the outage of a group of redundant dependencies did to the service: pure figures, per phase.

A member is down from a chaos action's onset (kill, pause) to its restore (the action's ``for``,
or a later restart or resume), and while a fault on its link lasts. How many members are down
at each moment splits the round into phases: ``all up``, ``one down``, ``two down`` (``N down``
beyond), ``all down``, and ``recovering`` (fewer down than before, but not yet all up).
Each phase gets its logins (success, latency) and its chat (sends, deliveries). The times the
service stopped using a dead member come from the target's ``/metrics`` when it reports them
(``<group>_backends``: one object per member, with ``opened_ns``, a list of wall-clock times).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from perfgate.figures import ChaosFigures, FaultFigures, PhaseFigures, RedundancyFigures
from perfgate.model import Window

ALL_UP, ALL_DOWN, RECOVERING = "all up", "all down", "recovering"
_COUNTS = {1: "one down", 2: "two down"}
_RESTORES = ("restart", "resume")

Span = tuple[int, int]


def member_outages(windows: Iterable[Window], side: str, member: str, round_end_ns: int) -> list[Span]:
    """The spans in which ``member`` was down on ``side``, from its chaos and fault windows."""
    mine = [w for w in windows if w.side == side]
    spans = [(w.start_ns, w.end_ns) for w in mine if isinstance(w.detail, FaultFigures) and w.detail.link == member]
    hits = sorted(
        (w.detail for w in mine if isinstance(w.detail, ChaosFigures) and w.detail.process == member),
        key=lambda f: f.real_ns,
    )
    for i, hit in enumerate(hits):
        if hit.action in _RESTORES:
            continue
        later = (h.real_ns for h in hits[i + 1 :] if h.action in _RESTORES)
        spans.append((hit.real_ns, hit.restore_ns or next(later, round_end_ns)))
    return sorted(spans)


def phases(outages: Sequence[Sequence[Span]], start_ns: int, end_ns: int) -> list[tuple[str, int, int]]:
    """Consecutive (phase, start, end) from the members' outages; like phases next to each other merge."""
    members = len(outages)
    cuts = sorted({start_ns, end_ns, *(t for spans in outages for s in spans for t in s if start_ns < t < end_ns)})
    out: list[tuple[str, int, int]] = []
    peak = 0  # most members down since all were last up
    for a, b in zip(cuts, cuts[1:], strict=False):
        down = sum(any(s <= a < e for s, e in spans) for spans in outages)
        peak = max(peak, down) if down else 0
        if down == 0:
            name = ALL_UP
        elif down == members:
            name = ALL_DOWN
        elif down < peak:
            name = RECOVERING
        else:
            name = _COUNTS.get(down, f"{down} down")
        if out and out[-1][0] == name and out[-1][2] == a:
            out[-1] = (name, out[-1][1], b)
        else:
            out.append((name, a, b))
    return out


def _ms(values: pd.Series, q: float) -> float | None:
    return float(values.quantile(q) / 1000) if len(values) else None


def _within(times: pd.Series, spans: Sequence[Span]) -> pd.Series:
    inside = pd.Series(False, index=times.index)
    for a, b in spans:
        inside |= (times >= a) & (times < b)
    return inside


def decided_ns(samples: pd.DataFrame) -> pd.Series:
    """When each request's outcome was settled, for counting it in a phase: a success when it was
    sent (a member was up to serve it, though its answer may land after that member died), a
    failure when it was answered (a login sent just before the last member died and refused after
    met the all-down phase, not the one before)."""
    answered_ns = samples["t_ns"] + (samples["latency_us"] * 1000).astype("int64")
    return samples["t_ns"].where(samples["ok"].astype(bool), answered_ns)


def phase_figures(samples: pd.DataFrame, spans: Sequence[tuple[str, int, int]]) -> tuple[PhaseFigures, ...]:
    """Logins and chat per phase; a phase that recurs (``all up`` before and after) is pooled.
    Latencies are of the requests sent in the phase (a login that hangs shows where it began);
    success rates and counts, of the requests decided in it (:func:`decided_ns`)."""
    decided = decided_ns(samples)
    out = []
    for name in dict.fromkeys(n for n, _, _ in spans):
        mine = [(a, b) for n, a, b in spans if n == name]
        sent, settled = samples[_within(samples["t_ns"], mine)], samples[_within(decided, mine)]
        logins, sends = settled[settled["name"] == "login"], settled[settled["name"] == "send"]
        sent_logins = sent[sent["name"] == "login"]
        delivers = sent[(sent["name"] == "deliver") & sent["ok"].astype(bool)]
        out.append(
            PhaseFigures(
                phase=name,
                start_ns=mine[0][0],
                end_ns=mine[-1][1],
                seconds=sum(b - a for a, b in mine) / 1e9,
                spans=tuple(mine),
                logins=len(logins),
                login_ok_rate=float(logins["ok"].mean()) if len(logins) else None,
                login_p50_ms=_ms(sent_logins["latency_us"], 0.5),
                login_max_ms=_ms(sent_logins["latency_us"], 1.0),
                sends=len(sends),
                send_ok_rate=float(sends["ok"].mean()) if len(sends) else None,
                delivers=len(delivers),
                deliver_p50_ms=_ms(delivers["latency_us"], 0.5),
            )
        )
    return tuple(out)


def shed_times(outages: Sequence[Sequence[Span]], backends: Any) -> tuple[float | None, ...]:
    """Per member outage, its onset to the first time after it that the service stopped using the
    member (``opened_ns`` of the target's ``<group>_backends``); None where it never said so."""
    out: list[float | None] = []
    for k, spans in enumerate(outages):
        report = backends[k] if isinstance(backends, list) and k < len(backends) else {}
        opened = sorted(t for t in (report or {}).get("opened_ns", ()) if isinstance(t, int))
        for start, end in spans:
            first = next((t for t in opened if start <= t <= end), None)
            out.append(None if first is None else (first - start) / 1e6)
    return tuple(out)


def redundancy_figures(
    samples: pd.DataFrame,
    side: str,
    group: str,
    outages: Sequence[Sequence[Span]],
    start_ns: int,
    end_ns: int,
    *,
    backends: Any = None,
    target_exited: bool = False,
) -> RedundancyFigures:
    """One side's figures over its measured samples (``start_ns`` .. ``end_ns``)."""
    mine = samples[(samples["side"] == side) & ~samples["warmup"].astype(bool)]
    spans = phases(outages, start_ns, end_ns)
    onset = min((s for spans_k in outages for s, _ in spans_k), default=None)
    logins = mine[mine["name"] == "login"].sort_values("t_ns")
    failed = logins[~logins["ok"].astype(bool)]
    if onset is not None:
        failed = failed[failed["t_ns"] >= onset]
    down = [(a, b) for n, a, b in spans if n == ALL_DOWN]
    recover = None
    if down:
        back = down[0][1]
        good = logins[(logins["t_ns"] >= back) & logins["ok"].astype(bool)]
        if len(good):
            recover = (int(good["t_ns"].iloc[0]) + float(good["latency_us"].iloc[0]) * 1000 - back) / 1e6
    figures = phase_figures(mine, spans)
    return RedundancyFigures(
        side=side,
        group=group,
        members=len(outages),
        phases=figures,
        shed_ms=shed_times(outages, backends),
        login_error_window_ms=float(failed["t_ns"].max() - failed["t_ns"].min()) / 1e6 if len(failed) else None,
        all_down_ms=sum(b - a for a, b in down) / 1e6 if down else None,
        recover_ms=recover,
        chat_continuity=chat_continuity(figures),
        target_exited=target_exited,
    )


def _good_sends_per_s(phase: PhaseFigures) -> float:
    return phase.sends * (phase.send_ok_rate or 0.0) / phase.seconds if phase.seconds else 0.0


def chat_continuity(figures: Sequence[PhaseFigures]) -> float | None:
    """Good sends per second while all members are down, over the same while all are up."""
    by_name = {p.phase: p for p in figures}
    down, up = by_name.get(ALL_DOWN), by_name.get(ALL_UP)
    if down is None or up is None or not _good_sends_per_s(up):
        return None
    return _good_sends_per_s(down) / _good_sends_per_s(up)


def redundancy_window(figures: RedundancyFigures) -> Window:
    """A window over the all-down phase (or the whole outage when never all down), labelled with its figures."""
    outage = [p for p in figures.phases if p.phase != ALL_UP]
    all_down = figures.phase(ALL_DOWN)
    span = all_down or (outage[0] if outage else None)
    start, end = (span.start_ns, span.end_ns) if span else (0, 0)
    parts = [f"{figures.side}: {figures.group} all down" if all_down else f"{figures.side}: {figures.group} degraded"]
    if all_down is not None:
        if all_down.login_ok_rate is not None:
            parts.append(f"logins ok {all_down.login_ok_rate * 100:.0f}% (slowest {all_down.login_max_ms:.0f} ms)")
        if all_down.send_ok_rate is not None:
            parts.append(f"chat ok {all_down.send_ok_rate * 100:.1f}%")
    if figures.chat_continuity is not None:
        parts.append(f"chat rate {figures.chat_continuity * 100:.0f}% of all-up")
    if figures.recover_ms is not None:
        parts.append(f"recovered {figures.recover_ms / 1000:.2f}s after a member returned")
    if figures.target_exited:
        parts.append("SERVICE WENT DOWN")
    return Window("redundancy", " · ".join(parts), start, max(end, start), figures, side=figures.side)
