"""Local distributed mode: Locust's master plus N worker processes over ZeroMQ on loopback.

Same contract as :func:`perfgate.load.runner.run_load`. The parent never
imports Locust. Every process is watched: a worker that exits early, or stops
answering the master's heartbeats, fails the round with a :class:`LoadError`;
nothing waits forever (the workers' connection wait is bounded by
``expect_timeout``, the whole round by its planned end plus a grace period).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pyarrow.parquet as pq

from perfgate.errors import LoadError
from perfgate.load.runner import GRACE_S, LoadResult, LoadSpec, load_env, write_spec
from perfgate.load.status import failure, read_status
from perfgate.procs import kill_tree, spawn
from perfgate.target import HOST, free_port

#: Seconds the master waits for all workers to connect before failing the round.
EXPECT_TIMEOUT_S = 60.0
#: Seconds a worker may have exited cleanly before the master finishes (it quits them at the end).
QUIT_SLACK_S = 30.0


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return spawn(
            [sys.executable, "-m", "perfgate.load.dist_worker", *args],
            stdout=log,
            env=load_env(),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _tail(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


class _CpuMeter:
    """Mean CPU % of each worker process over the measured window; the busiest one counts."""

    def __init__(self, procs: list[subprocess.Popen[bytes]]):
        self.procs = [psutil.Process(p.pid) for p in procs]
        self.samples: list[list[float]] = [[] for _ in procs]
        self.last = 0.0

    def sample(self, measuring: bool) -> None:
        now = time.monotonic()
        if now - self.last < 1.0:
            return
        self.last = now
        for proc, samples in zip(self.procs, self.samples):
            try:
                value = proc.cpu_percent(None)
            except psutil.Error:
                continue
            if measuring:
                samples.append(value)

    def busiest(self) -> float:
        return max((sum(s) / len(s) for s in self.samples if s), default=0.0)


def run_load_distributed(
    spec: LoadSpec,
    workdir: Path,
    workers: int,
    *,
    watch: Callable[[], None] | None = None,
    expect_timeout: float = EXPECT_TIMEOUT_S,
) -> LoadResult:
    """Run one round's load on a Locust master plus ``workers`` worker processes.

    ``watch`` is called about every 100 ms (it may raise to abort the round).
    """
    if workers < 1:
        raise LoadError(f"workers: must be at least 1 for distributed mode, not {workers}")
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = write_spec(
        spec,
        workdir,
        "dist-spec.json",
        workers=workers,
        master_host=HOST,
        bind_host=HOST,
        master_port=free_port(),
        expect_timeout=expect_timeout,
    )
    master = _spawn(["master", str(spec_path)], workdir / "master.log")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(workers):
            procs.append(_spawn(["worker", str(spec_path), str(i)], workdir / f"worker{i}.log"))
        generator_cpu = _supervise(spec, workdir, master, procs, watch, expect_timeout)
    finally:
        for proc in (master, *procs):
            kill_tree(proc, 5)
    return _result(spec, workdir, master, generator_cpu)


def _supervise(
    spec: LoadSpec,
    workdir: Path,
    master: subprocess.Popen[bytes],
    procs: list[subprocess.Popen[bytes]],
    watch: Callable[[], None] | None,
    expect_timeout: float,
) -> float:
    """Wait for the master; fail fast on a dead worker. Returns the busiest worker's mean CPU %."""
    start = time.monotonic()
    deadline = start + expect_timeout + spec.warmup + spec.duration + GRACE_S
    cpu = _CpuMeter(procs)
    first_quit: float | None = None
    while master.poll() is None:
        now = time.monotonic()
        if now > deadline:
            raise LoadError(f"Locust master still running {GRACE_S:g}s after the round should have ended")
        for i, proc in enumerate(procs):
            code = proc.poll()
            if code is None:
                continue
            if code != 0:
                worker_status = read_status(workdir / f"worker{i}-status.json")
                if worker_status is not None and worker_status.kind == "locustfile":
                    raise failure(worker_status, spec.locustfile, "")
                what = (worker_status.error if worker_status else "") or _tail(workdir / f"worker{i}.log")
                raise LoadError(
                    f"Locust worker {i + 1} of {len(procs)} died mid-round (exit code {code})"
                    + (f": {what}" if what else "")
                )
            first_quit = first_quit or now
            if now - first_quit > QUIT_SLACK_S:
                raise LoadError(f"Locust worker {i + 1} of {len(procs)} quit but the master did not finish")
        status = read_status(workdir / "status.json")
        cpu.sample(status is None and now - start > spec.warmup)
        if watch is not None:
            watch()
        time.sleep(0.1)
    return cpu.busiest()


def _result(spec: LoadSpec, workdir: Path, master: subprocess.Popen[bytes], generator_cpu: float) -> LoadResult:
    status = read_status(workdir / "status.json")
    if status is None:
        what = _tail(workdir / "master.log")
        raise LoadError(
            f"Locust master exited with code {master.returncode} and no result" + (f": {what}" if what else "")
        )
    if not status.ok:
        raise failure(status, spec.locustfile, "distributed load failed")
    return LoadResult(
        samples=pq.read_table(workdir / "samples.parquet"),
        started_ns=status.started_ns,
        measure_start_ns=status.measure_start_ns,
        ended_ns=status.ended_ns,
        generator_cpu=generator_cpu,
        user_errors=status.user_errors,
        first_user_error=status.first_user_error,
    )
