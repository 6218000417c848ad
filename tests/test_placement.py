"""CPU placement: both duet targets on the same CPUs, the load generator on the others."""

from __future__ import annotations

import os
import sys
import time

import psutil
import pytest

from perfgate.config import TargetConfig
from perfgate.machine import cpu_placement
from perfgate.model import Side
from perfgate.target import Target

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="placement needs two CPUs or more")


def test_shared_placement_gives_targets_and_generator_disjoint_cpus():
    targets, generator = cpu_placement("shared")
    assert targets and generator and not targets & generator
    assert targets | generator == set(os.sched_getaffinity(0))
    assert cpu_placement("free") == (None, None)


def test_a_target_and_every_thread_it_starts_run_on_its_cpus(tmp_path):
    targets, _ = cpu_placement("shared")
    script = tmp_path / "threads.py"
    script.write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(30,)).start()\ntime.sleep(30)\n"
    )
    config = TargetConfig(command=f"exec {sys.executable} {script}")
    target = Target(config, tmp_path, tmp_path / "data", Side.BASELINE, cpus=targets)
    target.launch()
    try:
        proc = psutil.Process(target.proc.pid)
        deadline = time.monotonic() + 10
        while proc.num_threads() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        threads = [t.id for t in proc.threads()]
        assert len(threads) >= 2
        assert all(os.sched_getaffinity(tid) == targets for tid in threads)
    finally:
        target.stop()
