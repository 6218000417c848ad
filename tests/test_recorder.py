import time

import pytest

from perfgate.load.recorder import Recorder
from perfgate.model import SAMPLE_SCHEMA


def test_records_exact_latency_side_warmup_and_errors():
    start = time.time()
    recorder = Recorder(measure_start_ns=int((start + 1) * 1e9))
    recorder.on_request("POST", "login", 12.3456, 10, None, {"side": "baseline"}, start_time=start)
    recorder.on_request("WS", "deliver", 0.5, 64, RuntimeError("boom"), {"side": "candidate"}, start_time=start + 2)
    recorder.on_request("GET", "history", 1.0, context={})  # no start_time: derived from now
    table = recorder.to_table()
    assert table.schema == SAMPLE_SCHEMA
    rows = table.to_pylist()
    assert rows[0]["latency_us"] == pytest.approx(12345.6)
    assert rows[0]["warmup"] is True and rows[1]["warmup"] is False
    assert rows[0]["ok"] is True and rows[0]["error"] is None
    assert rows[1]["ok"] is False and rows[1]["error"] == "RuntimeError: boom"
    assert [r["side"] for r in rows] == ["baseline", "candidate", ""]
    assert abs(rows[2]["t_ns"] - time.time_ns()) < 5e9
