"""The login storms of a run, one row per round and side: the storm's own figures, and the
steady users' deliveries before, during and after it (:func:`perfgate.faults.storm.storm_impact`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from perfgate.faults.storm import storm_impact
from perfgate.figures import StormFigures
from perfgate.formatting import MISSING, share, value_text
from perfgate.model import RoundRecord

#: The table's columns, in the order of :func:`storm_rows`' cells.
STORM_COLUMNS = (
    "#",
    "scenario",
    "side",
    "logins",
    "ok",
    "login p50",
    "login p99",
    "all answered",
    "release spread",
    "deliver p99 before",
    "during",
    "after",
)


def _latency(ms: float | None) -> str:
    return MISSING if ms is None else value_text(ms * 1000, "p99")


def storm_rows(rounds: Sequence[RoundRecord], samples: pd.DataFrame) -> list[list[str]]:
    """One row per storm window; ``samples`` holds the run's samples with a ``round`` column."""
    rows = []
    for record in rounds:
        storms = [(w, w.detail) for w in record.windows if isinstance(w.detail, StormFigures)]
        if not storms:
            continue
        measured = samples[(samples["round"] == record.index) & ~samples["warmup"].astype(bool)]
        for window, f in storms:
            impact = storm_impact(measured, window.start_ns, window.end_ns, side=window.side)
            steady = (impact.before, impact.during, impact.after)
            rows.append(
                [
                    str(record.index),
                    record.scenario,
                    window.side or "",
                    f"{f.logins:,}",
                    share(f.ok / f.logins) if f.logins else MISSING,
                    _latency(f.p50_ms),
                    _latency(f.p99_ms),
                    _latency(f.all_answered_ms),
                    _latency(f.release_spread_ms),
                    *(_latency(phase.deliver_p99_ms) for phase in steady),
                ]
            )
    return rows
