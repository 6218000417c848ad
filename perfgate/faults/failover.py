"""What a database outage did to the service: pure figures over one side's round.

The outage runs from the fault's onset (the primary killed, paused, or cut off
by the proxy) to its end (restarted, resumed, reconnected). The service's mode
comes from its ``/metrics`` samples; everything else from the request samples.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from perfgate.figures import FailoverFigures
from perfgate.model import Window

READ_NAMES = ("login", "history")
WRITE_NAMES = ("send",)
READ_ONLY, READ_WRITE = "read-only", "read-write"


def _first(rows: pd.DataFrame, after_ns: int, mode: str) -> int | None:
    hit = rows[(rows["t_ns"] >= after_ns) & (rows["mode"] == mode)]
    return int(hit["t_ns"].iloc[0]) if len(hit) else None


def failover_figures(
    samples: pd.DataFrame,
    resources: pd.DataFrame,
    side: str,
    start_ns: int,
    end_ns: int,
    *,
    target_exited: bool = False,
    acked_lost: int | None = None,
    acknowledged: int | None = None,
) -> FailoverFigures:
    """Detect, write-error window, reads during the outage, errors by class, recovery."""
    mine = samples[(samples["side"] == side) & ~samples["warmup"].astype(bool)]
    modes = resources[(resources["side"] == side) & (resources["process"] == "target")].sort_values("t_ns")
    read_only_at = _first(modes, start_ns, READ_ONLY)
    back_at = _first(modes, max(end_ns, read_only_at or end_ns), READ_WRITE)
    outage = mine[(mine["t_ns"] >= start_ns) & (mine["t_ns"] <= end_ns)]
    reads = outage[outage["name"].isin(READ_NAMES)]
    failed_writes = mine[mine["name"].isin(WRITE_NAMES) & ~mine["ok"].astype(bool) & (mine["t_ns"] >= start_ns)]
    writes = outage[outage["name"].isin(WRITE_NAMES)]
    errors = Counter(
        str(e).split(":")[0] + (f" ({n})" if (n := _status(e)) else "")
        for e in mine.loc[~mine["ok"].astype(bool) & (mine["t_ns"] >= start_ns), "error"]
    )
    return FailoverFigures(
        side=side,
        outage_s=(end_ns - start_ns) / 1e9,
        detect_s=None if read_only_at is None else (read_only_at - start_ns) / 1e9,
        recover_s=None if back_at is None else (back_at - end_ns) / 1e9,
        read_only_at_ns=read_only_at,
        read_write_at_ns=back_at,
        write_error_window_s=(
            float(failed_writes["t_ns"].max() - failed_writes["t_ns"].min()) / 1e9 if len(failed_writes) else 0.0
        ),
        slowest_send_ms=float(writes["latency_us"].max() / 1000) if len(writes) else None,
        reads=int(len(reads)),
        reads_ok_rate=float(reads["ok"].mean()) if len(reads) else None,
        errors_by_class=dict(errors.most_common(8)),
        target_exited=target_exited,
        acknowledged=acknowledged,
        acked_lost=acked_lost,
    )


def _status(error: Any) -> str:
    text = str(error)
    for code in ("503", "500", "502", "504", "401", "404"):
        if code in text:
            return code
    return ""


def failover_window(figures: FailoverFigures, start_ns: int, end_ns: int) -> Window:
    """A window spanning the service's read-only period (or the outage, if it never noticed)."""
    begin = figures.read_only_at_ns or start_ns
    finish = figures.read_write_at_ns or end_ns
    parts = [
        f"{figures.side}: detect {_s(figures.detect_s)}",
        f"recover {_s(figures.recover_s)}",
        f"writes failed for {figures.write_error_window_s:.1f}s",
    ]
    if figures.reads_ok_rate is not None:
        parts.append(f"reads/logins ok {figures.reads_ok_rate * 100:.1f}%")
    if figures.acked_lost is not None:
        parts.append(f"acked writes lost {figures.acked_lost}")
    if figures.target_exited:
        parts.append("SERVICE WENT DOWN")
    label = "read-only · " + ", ".join(parts)
    return Window("failover", label, begin, max(finish, begin), figures, side=figures.side)


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}s"
