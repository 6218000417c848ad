"""Drives Locust in a process of its own and collects the recorded samples.

The parent never imports Locust: gevent's monkey-patching stays in the child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from perfgate.errors import LoadError
from perfgate.load.status import failure, read_status
from perfgate.loopback import no_proxy_env
from perfgate.model import LoadStatus, Side
from perfgate.procs import kill_tree, spawn

#: Seconds a load process may run past its planned end before it is killed.
GRACE_S = 60.0


@dataclass(frozen=True)
class LoadTarget:
    side: Side | str  # a node's name under ``perfgate nodes``
    host: str


@dataclass(frozen=True)
class LoadLimits:
    """A live run's safety limits inside the load process (perfgate.load.safety); 0: none."""

    rate: float = 0.0  # requests/s per side, one token bucket each
    max_requests: int = 0  # requests per side this round may send at most
    abort_error_rate: float = 0.0  # a side's error rate past this stops the load at once


@dataclass(frozen=True)
class LoadSpec:
    locustfile: str
    user_classes: tuple[str, ...]
    users: int  # per side
    spawn_rate: float  # per side
    warmup: float
    duration: float
    targets: tuple[LoadTarget, ...]  # one per side, in class order
    env: dict[str, str] = field(default_factory=dict)  # set in the load process before the locustfile loads
    cpus: tuple[int, ...] = ()  # the generator's CPUs (empty: wherever the OS schedules it)
    tags: tuple[str, ...] = ()  # Locust task tags to run (empty: every task)
    exclude_tags: tuple[str, ...] = ()
    shape: str | bool = True  # a LoadTestShape: the one named, the locustfile's only one (True), none (False)
    credentials: str = ""  # the accounts file (its path: the load process reads it)
    limits: LoadLimits | None = None  # live targets only


@dataclass(frozen=True)
class LoadResult:
    samples: pa.Table
    started_ns: int
    measure_start_ns: int
    ended_ns: int
    generator_cpu: float
    user_errors: int
    first_user_error: str
    loop_lag_ms_p50: float = 0.0  # how late the generator sent, typically (coordinated omission)
    loop_lag_ms_p99: float = 0.0
    aborted: str = ""  # the safety limit that stopped the load ("" when none did)


#: A round whose load generator (its busiest process) averaged more CPU than this is invalid ...
SATURATED_CPU = 90.0
#: ... or whose event loop typically woke up this late: its sends were late (coordinated omission).
LAGGING_MS = 20.0


def invalid_reason(generator_cpu: float, loop_lag_ms_p50: float | None = None) -> str:
    """Why a round's load cannot be trusted ("" when it can): one rule for local and cluster rounds.

    ``loop_lag_ms_p50`` is None where it was not measured (a cluster's Locust workers).
    """
    if generator_cpu > SATURATED_CPU:
        return f"load generator saturated (CPU {generator_cpu:.0f}%)"
    if loop_lag_ms_p50 is not None and loop_lag_ms_p50 > LAGGING_MS:
        return f"load generator fell behind (sends typically {loop_lag_ms_p50:.0f} ms late)"
    return ""


def write_spec(spec: LoadSpec, workdir: Path, name: str = "load-spec.json", **extra: Any) -> Path:
    """The spec a load process reads (``workdir/name``): ``spec`` as JSON, where to write its
    samples and status, and ``extra`` settings of that process."""
    data = asdict(spec)
    data["user_classes"] = list(spec.user_classes)
    data["targets"] = [{"side": str(t.side), "host": t.host} for t in spec.targets]
    data.update(out=str(workdir / "samples.parquet"), status=str(workdir / "status.json"), **extra)
    path = workdir / name
    path.write_text(json.dumps(data))
    return path


def _launch(spec_path: Path, workdir: Path) -> subprocess.Popen[bytes]:
    with open(workdir / "load.log", "wb") as log:
        return spawn(
            [sys.executable, "-m", "perfgate.load.worker", str(spec_path)],
            env=load_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def load_env() -> dict[str, str]:
    """A load process's environment: this one's, with loopback kept away from any HTTP proxy."""
    return {**os.environ, **no_proxy_env(os.environ)}


def _status(workdir: Path, proc: subprocess.Popen[bytes], locustfile: str) -> LoadStatus:
    status = read_status(workdir / "status.json")  # written by the worker
    if status is None:
        tail = (workdir / "load.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
        raise LoadError(f"load generator exited with code {proc.returncode} and no result: {tail[0][:300]}")
    if not status.ok:
        raise failure(status, locustfile, "load generator crashed")
    return status


def check_locustfile(spec: LoadSpec, workdir: Path) -> LoadStatus:
    """Import the locustfile and resolve its user classes and shape, in a throw-away process."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = _launch(write_spec(spec, workdir, check_only=True), workdir)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        pass
    finally:
        kill_tree(proc, 2)
    return _status(workdir, proc, spec.locustfile)


def run_load(spec: LoadSpec, workdir: Path, *, watch: Callable[[], None] | None = None) -> LoadResult:
    """Run one round's load; ``watch`` is called about every 100 ms (it may raise to abort)."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = _launch(write_spec(spec, workdir, check_only=False), workdir)
    deadline = time.monotonic() + spec.warmup + spec.duration + GRACE_S
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise LoadError(f"load generator still running {GRACE_S:g}s after the round should have ended")
            if watch is not None:
                watch()
            time.sleep(0.1)
    finally:
        kill_tree(proc, 5)
    status = _status(workdir, proc, spec.locustfile)
    return LoadResult(
        samples=pq.read_table(workdir / "samples.parquet"),
        started_ns=status.started_ns,
        measure_start_ns=status.measure_start_ns,
        ended_ns=status.ended_ns,
        generator_cpu=status.generator_cpu,
        loop_lag_ms_p50=status.loop_lag_ms_p50 or 0.0,
        loop_lag_ms_p99=status.loop_lag_ms_p99 or 0.0,
        user_errors=status.user_errors,
        first_user_error=status.first_user_error,
        aborted=status.aborted,
    )
