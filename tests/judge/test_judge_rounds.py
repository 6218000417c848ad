import numpy as np
import pandas as pd
import pytest

from perfgate.judge import ALL_NAMES, round_metrics
from perfgate.model import Design, RoundRecord, Side


def record(**kw):
    fields = dict(
        run_id="r",
        index=3,
        scenario="chat",
        design=Design.DUET,
        sides=(Side.BASELINE, Side.CANDIDATE),
        pair=1,
        started_ns=0,
        measure_start_ns=2 * 10**9,
        ended_ns=12 * 10**9,
    )
    fields.update(kw)
    return RoundRecord(**fields)


def frame(rows):
    cols = ["t_ns", "latency_us", "name", "type", "ok", "bytes", "error", "side", "warmup"]
    return pd.DataFrame(rows, columns=cols)


def test_known_values():
    rows = []
    for i in range(1, 101):  # latencies 1..100 us, ok, candidate side, name "a"
        rows.append([i, float(i), "a", "GET", True, 0, None, "candidate", False])
    for i in range(10):  # 10 failures: counted in error_rate, not in latency
        rows.append([i, 1e9, "a", "GET", False, 0, "boom", "candidate", False])
    for i in range(50):  # warm-up rows are excluded from everything
        rows.append([i, 5e6, "a", "GET", False, 0, "warm", "candidate", True])
    rows.append([0, 7.0, "b", "POST", True, 0, None, "baseline", False])
    out = {(m.side, m.name): m for m in round_metrics(frame(rows), record())}
    a = out[(Side.CANDIDATE, "a")]
    x = np.arange(1, 101, dtype=float)
    assert a.count == 110 and a.errors == 10
    assert a.values["p50"] == pytest.approx(np.quantile(x, 0.5))
    assert a.values["p99"] == pytest.approx(np.quantile(x, 0.99))
    assert a.values["p99.9"] == pytest.approx(np.quantile(x, 0.999))
    assert a.values["mean"] == pytest.approx(50.5)
    assert a.values["throughput"] == pytest.approx(100 / 10.0)  # ok requests over the 10 s window
    assert a.values["error_rate"] == pytest.approx(10 / 110)
    assert (a.round_index, a.pair, a.scenario) == (3, 1, "chat")
    b = out[(Side.BASELINE, "b")]
    assert b.count == 1 and b.values["p50"] == 7.0
    assert set(out) == {(Side.CANDIDATE, "a"), (Side.BASELINE, "b")}


def test_aggregate_and_all_failed_names():
    rows = [
        [0, 10.0, "a", "GET", True, 0, None, "baseline", False],
        [0, 30.0, "b", "GET", True, 0, None, "baseline", False],
        [0, 1.0, "c", "GET", False, 0, "x", "baseline", False],
    ]
    out = {m.name: m for m in round_metrics(frame(rows), record(), aggregate=True)}
    assert out[ALL_NAMES].count == 3 and out[ALL_NAMES].values["p50"] == pytest.approx(20.0)
    assert np.isnan(out["c"].values["p50"]) and out["c"].values["error_rate"] == 1.0
    assert out["c"].values["throughput"] == 0.0


def test_arrow_strings_and_empty_frame():
    rows = [[0, 5.0, "a", "GET", True, 0, None, "baseline", False]] * 30
    df = frame(rows).astype({"name": "string[pyarrow]", "side": "string[pyarrow]"})
    assert round_metrics(df, record())[0].values["p95"] == 5.0
    assert round_metrics(frame([]), record()) == []
