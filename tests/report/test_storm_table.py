"""The report's login-storm table: each side's storm figures and the steady deliveries around it."""

import pandas as pd

from perfgate.figures import StormFigures
from perfgate.model import Design, RoundRecord, Side, Window
from perfgate.report.storms import STORM_COLUMNS, storm_rows

S = 1_000_000_000


def deliveries(side: str, rnd: int, spans: list[tuple[float, float, float]]) -> list[dict]:
    """``(from s, to s, latency ms)``: one steady delivery every 0.1 s, plus a storm login row."""
    rows = []
    for start, end, ms in spans:
        for k in range(round((end - start) * 10)):
            rows.append({"t_ns": int((start + k / 10) * S), "latency_us": ms * 1000, "name": "deliver", "ok": True})
    rows.append({"t_ns": 3 * S, "latency_us": 2e6, "name": "storm_login", "ok": True})
    return [r | {"side": side, "round": rnd, "warmup": r["t_ns"] < S} for r in rows]


def test_one_row_per_storm_window_with_the_steady_impact():
    storm = StormFigures(logins=1000, ok=990, errors=10, all_answered_ms=2100.0, p50_ms=2000.0, p99_ms=2090.0)
    windows = (
        Window("storm", "login storm (baseline)", 3 * S, 5 * S, storm, side="baseline"),
        Window("fault", "latency on target", 1 * S, 2 * S, None),
    )
    record = RoundRecord("r", 0, "storm", Design.DUET, (Side.BASELINE,), 0, 0, S, 10 * S, windows=windows)
    quiet = RoundRecord("r", 1, "chat", Design.DUET, (Side.BASELINE,), 1, 0, S, 10 * S)
    samples = pd.DataFrame(deliveries("baseline", 0, [(0, 3, 1.0), (3, 5, 40.0), (5.1, 10, 2.0)]))

    rows = storm_rows([record, quiet], samples)

    assert len(rows) == 1 and len(rows[0]) == len(STORM_COLUMNS)
    row = dict(zip(STORM_COLUMNS, rows[0], strict=True))
    assert [row[c] for c in ("#", "scenario", "side", "logins", "ok")] == ["0", "storm", "baseline", "1,000", "99%"]
    assert (row["login p50"], row["all answered"], row["release spread"]) == ("2,000 ms", "2,100 ms", "—")
    # steady deliveries: 1 ms before the storm (the first second is warm-up, left out), 40 ms during it, 2 ms after
    assert (row["deliver p99 before"], row["during"], row["after"]) == ("1.00 ms", "40.0 ms", "2.00 ms")
