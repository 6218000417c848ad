"""The load process's safety limits, as functions: the token bucket and the error-rate watch."""

from __future__ import annotations

from perfgate.load.safety import ABORT_MIN_REQUESTS, Safety, TokenBucket


def test_the_bucket_gives_one_request_now_then_rate_per_second():
    now = [100.0]
    bucket = TokenBucket(10.0, clock=lambda: now[0])
    assert bucket.wait() == 0.0  # the first one at once
    assert abs(bucket.wait() - 0.1) < 1e-9  # the next one a tenth of a second later
    now[0] += 0.05
    assert abs(bucket.wait() - 0.05) < 1e-9
    now[0] += 0.05
    assert bucket.wait() == 0.0
    now[0] += 60.0  # idle time does not save up a burst
    assert bucket.wait() == 0.0 and bucket.wait() > 0.0


def test_the_watch_aborts_on_the_side_past_the_threshold_only_after_enough_requests():
    safety = Safety({"abort_error_rate": 0.25}, ["baseline", "candidate"])
    for _ in range(ABORT_MIN_REQUESTS - 1):
        safety.on_request(context={"side": "candidate"}, exception=RuntimeError("401"))
    assert safety.aborted == ""  # too few requests to call it
    for _ in range(100):
        safety.on_request(context={"side": "baseline"}, exception=None)
    safety.on_request(context={"side": "candidate"}, exception=RuntimeError("401"))
    assert safety.aborted.startswith("the candidate's error rate reached 100% (20 of 20 requests)")
    assert "[live] abort_error_rate (25%)" in safety.aborted


def test_errors_under_the_threshold_never_abort():
    safety = Safety({"abort_error_rate": 0.25}, ["baseline"])
    for i in range(400):
        safety.on_request(context={"side": "baseline"}, exception=RuntimeError() if i % 5 == 0 else None)
    assert safety.aborted == ""


def test_requests_are_counted_per_side_warm_up_included():
    import pyarrow as pa

    from perfgate.live import requests_by_side

    table = pa.table({"side": ["baseline", "candidate", "baseline"], "warmup": [True, False, False]})
    assert requests_by_side(table) == {"baseline": 2, "candidate": 1}
    assert requests_by_side(table.slice(0, 0)) == {}
