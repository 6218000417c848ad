"""Per-request tables of a scenario, as a Locust user reads them: requests, failures, rps and
min/avg/max latency per name and side, and the failures grouped by message. Pure functions
over the samples of valid rounds (after warm-up); descriptive, beside the verdict."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from perfgate.formatting import value_text
from perfgate.model import RoundRecord

MAX_FAILURE_ROWS = 20
#: A loopback address with its port: each round's targets listen on ports of their own, so
#: the same failure would otherwise read as a new message in every round.
_LOOPBACK_PORT = re.compile(r"(127\.0\.0\.1|localhost|\[::1\]):\d+")


def _measured(samples: pd.DataFrame, rounds: Sequence[RoundRecord]) -> tuple[pd.DataFrame, float]:
    valid = [r for r in rounds if r.valid]
    ids = {r.index for r in valid}
    rows = samples[samples["round"].isin(ids) & ~samples["warmup"].astype(bool)] if not samples.empty else samples
    seconds = sum(max(r.ended_ns - r.measure_start_ns, 0) for r in valid) / 1e9
    return rows, seconds


def name_summary(samples: pd.DataFrame, rounds: Sequence[RoundRecord]) -> list[dict[str, Any]]:
    """One row per (name, side): requests, failures, rps over the measured windows, min/avg/max/p50/p95."""
    rows, seconds = _measured(samples, rounds)
    out: list[dict[str, Any]] = []
    if rows.empty:
        return out
    for (name, side), group in rows.groupby(["name", "side"], sort=True):
        ok = group["ok"].astype(bool)
        latency = group.loc[ok, "latency_us"].to_numpy(dtype=float)
        stats = {"min": 0.0, "avg": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
        if latency.size:
            stats = {
                "min": float(latency.min()),
                "avg": float(latency.mean()),
                "p50": float(np.quantile(latency, 0.5)),
                "p95": float(np.quantile(latency, 0.95)),
                "max": float(latency.max()),
            }
        out.append(
            {
                "name": str(name),
                "side": str(side),
                "requests": len(group),
                "failures": int((~ok).sum()),
                "rps": f"{len(group) / seconds:,.1f}" if seconds else "—",
                **{key: value_text(v, "p50") if latency.size else "—" for key, v in stats.items()},
            }
        )
    return out


def failures(
    samples: pd.DataFrame, rounds: Sequence[RoundRecord], limit: int = MAX_FAILURE_ROWS
) -> list[dict[str, Any]]:
    """Failed requests grouped by (name, side, message), most frequent first."""
    rows, _ = _measured(samples, rounds)
    if rows.empty:
        return []
    failed = rows[~rows["ok"].astype(bool)]
    if failed.empty:
        return []
    messages = failed["error"].fillna("(no message)").astype(str).str.replace(_LOOPBACK_PORT, r"\1:PORT", regex=True)
    messages = messages.str.slice(0, 300)
    counted = failed.assign(message=messages).groupby(["name", "side", "message"], sort=False).size()
    ordered = counted.sort_values(ascending=False).head(limit)
    keys = ("name", "side", "message")
    return [
        {**{k: str(v) for k, v in zip(keys, index, strict=True)}, "count": int(count)}
        for index, count in zip(ordered.index.tolist(), ordered.tolist(), strict=True)
    ]
