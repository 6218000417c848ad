"""storm_windows and storm_impact: pure functions over a sample table."""

from __future__ import annotations

import pandas as pd
import pytest

from perfgate.faults.storm import storm_impact, storm_windows
from perfgate.model import SAMPLE_COLUMNS

MS = 1_000_000  # ns


def row(
    t_ms: float,
    name: str,
    latency_ms: float,
    ok: bool = True,
    side: str = "baseline",
    kind: str = "WS",
    nbytes: int = 0,
) -> dict:
    return {
        "t_ns": int(t_ms * MS),
        "latency_us": latency_ms * 1000,
        "name": name,
        "type": kind,
        "ok": ok,
        "bytes": nbytes,
        "error": None if ok else "Boom",
        "side": side,
        "warmup": False,
    }


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS))


def steady(side: str = "baseline") -> list[dict]:
    rows = [row(t, "deliver", 2.0, side=side) for t in range(0, 1000, 10)]  # before: 2 ms
    rows += [row(t, "deliver", 50.0, side=side) for t in range(1000, 2000, 10)]  # during: 50 ms
    rows += [row(t, "send", 1.0, ok=t % 100 != 0, side=side, kind="POST") for t in range(1000, 2000, 10)]
    rows += [row(t, "deliver", 4.0, side=side) for t in range(2010, 3000, 10)]  # after: 4 ms
    return rows


def storm_rows(side: str = "baseline", t0: float = 1000.0) -> list[dict]:
    rows = [
        row(t0 + i * 0.1, "storm_login", 900.0 - i, ok=i != 3, side=side, kind="POST", nbytes=40) for i in range(10)
    ]
    rows.append(row(t0, "storm_release", 0.9, side=side, kind="STORM", nbytes=10))
    rows.append(row(t0 - 700, "storm_connect", 650.0, side=side, kind="STORM", nbytes=10))
    return rows


def test_impact_splits_steady_rows_by_send_time() -> None:
    impact = storm_impact(frame(steady() + storm_rows()), 1000 * MS, 1999 * MS)
    assert impact.before.deliveries == 100 and impact.before.deliver_p50_ms == pytest.approx(2.0)
    assert impact.during.deliveries == 100 and impact.during.deliver_p99_ms == pytest.approx(50.0)
    assert impact.after.deliveries == 99 and impact.after.deliver_p50_ms == pytest.approx(4.0)
    # storm rows never count as steady traffic; 10 of the 100 sends failed during the storm
    assert impact.during.requests == 200 and impact.during.errors == 10
    assert impact.during.error_rate == pytest.approx(0.05)
    assert impact.before.errors == 0 and impact.before.error_rate == 0
    assert impact.p99_ratio() == pytest.approx(25.0)
    assert impact.p99_ratio("after") == pytest.approx(2.0)
    assert impact.before.start_ns == 0 and impact.during.end_ns == 1999 * MS


def test_impact_of_one_side_and_empty_phases() -> None:
    samples = frame(steady("baseline") + [row(5, "deliver", 9.0, side="candidate")])
    only = storm_impact(samples, 1000 * MS, 2000 * MS, side="candidate")
    assert only.before.deliveries == 1 and only.during.deliveries == 0
    assert only.during.deliver_p99_ms is None and only.during.error_rate is None
    assert only.p99_ratio() is None
    with pytest.raises(ValueError, match="window_end_ns"):
        storm_impact(samples, 2, 1)


def test_windows_from_samples_per_side() -> None:
    samples = frame(
        steady("baseline") + steady("candidate") + storm_rows("baseline") + storm_rows("candidate", t0=1000.5)
    )
    base, cand = storm_windows(samples)
    assert (base.kind, base.label) == ("storm", "login storm (baseline)")
    assert cand.label == "login storm (candidate)"
    d = base.detail
    assert base.start_ns == 1000 * MS
    assert base.end_ns == max(int((1000 + i * 0.1) * MS) + int((900 - i) * MS) for i in range(10))
    assert d.logins == 10 and d.errors == 1 and d.ok == 9 and d.error_rate == 0.1
    assert d.release_spread_ms == pytest.approx(0.9) and d.connect_ms == pytest.approx(650)
    assert d.connections == 10
    assert d.first_send_ns == base.start_ns and d.last_send_ns == int(1000.9 * MS)
    assert d.p50_ms == pytest.approx(895.5)


def test_no_storm_no_window() -> None:
    assert storm_windows(frame(steady())) == ()
