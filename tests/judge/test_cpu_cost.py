"""The CPU-cost metric: the target's CPU time per request served, per side and round."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil

from perfgate.judge.rounds import TARGET_NAME, cpu_per_request, resource_metrics
from perfgate.model import Design, RoundRecord, Side
from perfgate.target import _CpuClock


def test_cpu_per_request_counts_requests_inside_the_cpu_window_only():
    t = np.array([1_000, 2_000, 3_000], dtype=np.int64)
    cpu = np.array([10.0, 10.5, 11.0])
    sent = np.array([500, 1_000, 1_500, 2_500, 2_999, 3_000, 4_000], dtype=np.int64)  # 4 inside [1000, 3000)
    per_request, requests = cpu_per_request(t, cpu, sent)
    assert requests == 4
    assert per_request == 1.0 * 1e6 / 4


def test_cpu_per_request_needs_two_readings_and_a_request():
    one = cpu_per_request(np.array([1], dtype=np.int64), np.array([1.0]), np.array([1], dtype=np.int64))
    none = cpu_per_request(np.array([1, 2], dtype=np.int64), np.array([1.0, 2.0]), np.array([], dtype=np.int64))
    assert np.isnan(one[0]) and np.isnan(none[0])


def test_resource_metrics_judge_each_side_on_its_own_requests():
    record = RoundRecord(
        run_id="r",
        index=0,
        scenario="chat",
        design=Design.DUET,
        sides=(Side.BASELINE, Side.CANDIDATE),
        pair=0,
        started_ns=0,
        measure_start_ns=1_000,
        ended_ns=10_000,
    )
    resources = pd.DataFrame(
        {
            "t_ns": [500, 1_000, 9_000, 1_000, 9_000],
            "side": ["baseline", "baseline", "baseline", "candidate", "candidate"],
            "process": ["target"] * 5,
            "cpu_percent": [50.0] * 5,
            "rss_bytes": [1] * 5,
            "connections": [None] * 5,
            "queue_depth": [None] * 5,
            "mode": [None] * 5,
            "cpu_time_s": [0.0, 1.0, 2.0, 5.0, 8.0],
        }
    )
    sent = list(range(1_000, 9_000, 80))  # 100 requests per side inside the window
    samples = pd.DataFrame(
        {"t_ns": sent * 2, "side": ["baseline"] * 100 + ["candidate"] * 100, "warmup": [False] * 200}
    )
    by_side = {m.side: m for m in resource_metrics(resources, record, samples)}
    assert {m.name for m in by_side.values()} == {TARGET_NAME}
    assert by_side[Side.BASELINE].values["cpu_per_request"] == 1.0 * 1e6 / 100
    assert by_side[Side.CANDIDATE].values["cpu_per_request"] == 3.0 * 1e6 / 100
    assert by_side[Side.CANDIDATE].count == 100


def test_cpu_clock_follows_a_real_busy_process_and_ignores_what_it_used_before():
    burn = (
        "import sys, time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
        "print('done', flush=True)\ntime.sleep(30)"
    )
    proc = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
    try:
        clock, family = _CpuClock(), [psutil.Process(proc.pid)]
        assert clock.read(family) == 0.0  # what it used before the first reading does not count
        assert proc.stdout is not None and proc.stdout.readline().strip() == "done"
        used = clock.read(family)
        assert 0.3 <= used <= 0.7  # the 0.4 s burn, plus at most the interpreter's start-up
        time.sleep(0.3)
        assert clock.read(family) - used < 0.05  # idle now
    finally:
        proc.kill()
        proc.wait()
