"""The login storm, read back from a round's samples: its windows and its impact.

Pure functions over the sample table (``perfgate.model.SAMPLE_COLUMNS``) as a
pandas frame. ``loadtests/storm.py`` records, per storm driver (host and side):

- ``storm_login`` rows, one per login: ``t_ns`` = real send time, ``latency_us`` =
  time to the full answer (a login whose connection never opened has latency 0 at
  the release time);
- one ``storm_release`` row: ``t_ns`` = first send, ``latency_us`` = release spread
  (first to last send), ``bytes`` = logins sent;
- one ``storm_connect`` row: ``latency_us`` = the connect phase, ``bytes`` = connections.

So the storm window of a side is [first send, last answer] of its storm_login rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from perfgate.figures import StormFigures
from perfgate.model import Window

STORM_LOGIN = "storm_login"
STORM_RELEASE = "storm_release"
STORM_CONNECT = "storm_connect"
STORM_PREFIX = "storm_"


def _ms(values: pd.Series, q: float) -> float | None:
    return float(np.percentile(values.to_numpy(dtype=float), q)) / 1000.0 if len(values) else None


def storm_windows(samples: pd.DataFrame) -> tuple[Window, ...]:
    """One ``Window(kind="storm")`` per side with storm_login rows, ordered by start."""
    logins = samples[samples["name"] == STORM_LOGIN]
    windows = []
    for side, rows in logins.groupby("side", sort=True):
        side_name = str(side)
        side_rows = samples[samples["side"] == side]
        release = side_rows[side_rows["name"] == STORM_RELEASE]
        connect = side_rows[side_rows["name"] == STORM_CONNECT]
        start = int(rows["t_ns"].min())
        end = int((rows["t_ns"] + (rows["latency_us"] * 1000).astype("int64")).max())
        sent = rows[rows["latency_us"] > 0]
        errors = int((~rows["ok"]).sum())
        figures = StormFigures(
            logins=len(rows),
            ok=len(rows) - errors,
            errors=errors,
            error_rate=errors / len(rows),
            release_spread_ms=float(release["latency_us"].max()) / 1000 if len(release) else None,
            connect_ms=float(connect["latency_us"].max()) / 1000 if len(connect) else None,
            connections=int(connect["bytes"].sum()) if len(connect) else None,
            first_send_ns=int(sent["t_ns"].min()) if len(sent) else None,
            last_send_ns=int(sent["t_ns"].max()) if len(sent) else None,
            all_answered_ms=(end - start) / 1e6,
            p50_ms=_ms(rows["latency_us"], 50),
            p99_ms=_ms(rows["latency_us"], 99),
        )
        label = f"login storm ({side_name})" if side else "login storm"
        windows.append(Window("storm", label, start, end, figures, side=side_name))
    return tuple(sorted(windows, key=lambda w: w.start_ns))


@dataclass(frozen=True)
class PhaseStats:
    """Steady users' figures in one phase; percentiles are None without deliveries."""

    start_ns: int | None
    end_ns: int | None
    deliveries: int
    deliver_p50_ms: float | None
    deliver_p99_ms: float | None
    requests: int  # every steady request, deliveries included
    errors: int
    error_rate: float | None


@dataclass(frozen=True)
class StormImpact:
    before: PhaseStats
    during: PhaseStats
    after: PhaseStats

    def p99_ratio(self, phase: str = "during") -> float | None:
        """deliver p99 of ``phase`` over that before the storm."""
        base, other = self.before.deliver_p99_ms, getattr(self, phase).deliver_p99_ms
        return other / base if base and other is not None else None


def _phase(rows: pd.DataFrame, start: int | None, end: int | None, deliver_name: str) -> PhaseStats:
    deliver = rows.loc[rows["name"] == deliver_name, "latency_us"]
    errors = int((~rows["ok"].astype(bool)).sum())
    return PhaseStats(
        start_ns=start,
        end_ns=end,
        deliveries=len(deliver),
        deliver_p50_ms=_ms(deliver, 50),
        deliver_p99_ms=_ms(deliver, 99),
        requests=len(rows),
        errors=errors,
        error_rate=errors / len(rows) if len(rows) else None,
    )


def storm_impact(
    samples: pd.DataFrame,
    window_start_ns: int,
    window_end_ns: int,
    *,
    side: str | None = None,
    deliver_name: str = "deliver",
) -> StormImpact:
    """Steady users' deliver latency and errors before, during and after a window.

    Steady rows are those whose name does not start with ``storm_``; a row belongs to
    the phase of its ``t_ns`` (send time), the window's bounds counting as "during".
    Filter warm-up rows out first if they should not count as "before".
    """
    if window_end_ns < window_start_ns:
        raise ValueError("window_end_ns is before window_start_ns")
    rows = samples[~samples["name"].astype(str).str.startswith(STORM_PREFIX)]
    if side is not None:
        rows = rows[rows["side"] == side]
    t = rows["t_ns"]
    first = int(t.min()) if len(t) else None
    last = int(t.max()) if len(t) else None
    return StormImpact(
        before=_phase(rows[t < window_start_ns], first, window_start_ns, deliver_name),
        during=_phase(
            rows[(t >= window_start_ns) & (t <= window_end_ns)], window_start_ns, window_end_ns, deliver_name
        ),
        after=_phase(rows[t > window_end_ns], window_end_ns, last, deliver_name),
    )
