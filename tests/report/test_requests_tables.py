"""The report's Locust-style tables: requests by name and side, failures by message."""

import pandas as pd

from perfgate.model import Design, RoundRecord, Side
from perfgate.report.requests import failures, name_summary

SIDES = (Side.BASELINE, Side.CANDIDATE)


def frame() -> pd.DataFrame:
    rows = []
    for rnd in (0, 1, 2):
        for k in range(10):
            for side in ("baseline", "candidate"):
                bad = side == "candidate" and k < 2
                rows.append(
                    {
                        "t_ns": k,
                        "latency_us": 1000.0 * (k + 1),
                        "name": "login",
                        "type": "POST",
                        "ok": not bad,
                        "bytes": 1,
                        "error": "HTTP 503: auth down" if bad else None,
                        "side": side,
                        "warmup": k == 9,
                        "round": rnd,
                    }
                )
    return pd.DataFrame(rows)


def rounds() -> list[RoundRecord]:
    return [RoundRecord("r", i, "chat", Design.DUET, SIDES, i, 0, 0, 2_000_000_000, valid=i != 2) for i in (0, 1, 2)]


def test_requests_by_name_count_valid_measured_rounds_only():
    rows = {(r["name"], r["side"]): r for r in name_summary(frame(), rounds())}
    base, cand = rows[("login", "baseline")], rows[("login", "candidate")]
    assert base["requests"] == 18 and base["failures"] == 0  # 2 valid rounds x 9 measured requests
    assert cand["failures"] == 4 and base["rps"] == "4.5"  # 18 requests over 2 x 2 s
    assert (base["min"], base["max"]) == ("1.00 ms", "9.00 ms") and base["avg"] == "5.00 ms"


def test_failures_are_grouped_by_message():
    assert failures(frame(), rounds()) == [
        {"name": "login", "side": "candidate", "message": "HTTP 503: auth down", "count": 4}
    ]


def test_one_failure_at_each_rounds_own_port_is_one_message():
    samples = frame()
    failed = ~samples["ok"]
    ports = samples["round"].map({0: 40001, 1: 40002, 2: 40003})
    samples.loc[failed, "error"] = "LocustBadStatusCode: URL http://127.0.0.1:" + ports.astype(str) + "/login: code=503"
    assert failures(samples, rounds()) == [
        {
            "name": "login",
            "side": "candidate",
            "message": "LocustBadStatusCode: URL http://127.0.0.1:PORT/login: code=503",
            "count": 4,
        }
    ]


def test_a_partial_last_time_bin_is_not_a_throughput_drop():
    from perfgate.report.timeline import _binned

    # 10 requests/s for 2.5 s with 1 s bins: the last bin covers half a second
    times = [int(i * 1e8) for i in range(25)]
    frame = pd.DataFrame({"t_ns": times, "latency_us": 1000.0, "ok": True})
    record = RoundRecord("r", 0, "chat", Design.DUET, SIDES, 0, 0, 0, 2_500_000_000)
    rps = _binned(frame, record, 1_000_000_000, 0)["rps"].dropna().tolist()
    assert rps == [10.0, 10.0, 10.0]  # not [10, 10, 5]
