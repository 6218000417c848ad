"""Local distributed mode: Locust master plus worker processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from perfgate.errors import LoadError
from perfgate.load.distributed import run_load_distributed
from perfgate.load.runner import LoadSpec, LoadTarget
from perfgate.model import SAMPLE_SCHEMA, Side

HERE = Path(__file__).parent


def _spec(url: str, users: int = 4, warmup: float = 1.0, duration: float = 3.0) -> LoadSpec:
    return LoadSpec(
        str(HERE / "tinyload.py"), ("TinyUser",), users, 20.0, warmup, duration, (LoadTarget(Side.BASELINE, url),)
    )


def _workers() -> list[psutil.Process]:
    """This process's live Locust workers (a killed one may linger as a zombie until it is reaped)."""
    found = []
    for proc in psutil.Process().children():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and proc.cmdline()[3:4] == ["worker"]:
                found.append(proc)
        except psutil.Error:  # gone, or a zombie, between the listing and the look
            continue
    return found


@pytest.mark.e2e  # real Locust load on a master and two workers
def test_every_worker_ships_its_samples(tiny_target: str, tmp_path: Path) -> None:
    result = run_load_distributed(_spec(tiny_target), tmp_path, 2)
    status = json.loads((tmp_path / "status.json").read_text())
    assert result.samples.schema == SAMPLE_SCHEMA
    assert set(status["rows_per_worker"]) == {"0", "1"}
    assert all(n > 0 for n in status["rows_per_worker"].values())
    assert result.samples.num_rows == sum(status["rows_per_worker"].values())
    df = result.samples.to_pandas()
    assert df["ok"].all() and (df["side"] == "baseline").all()
    # one clock: every row lies inside the round, and warm-up is flagged against the master's clock
    assert df["t_ns"].min() >= result.started_ns
    assert df["t_ns"].max() <= result.ended_ns + 2_000_000_000  # requests in flight while stopping
    assert (df["warmup"] == (df["t_ns"] < result.measure_start_ns)).all()
    assert df["warmup"].any() and (~df["warmup"]).any()
    assert not _workers()


@pytest.mark.e2e  # real Locust load on a master and two workers
def test_two_sides_split_across_workers(tiny_target: str, tmp_path: Path) -> None:
    spec = LoadSpec(
        str(HERE / "tinyload.py"),
        ("TinyUser",),
        2,
        20.0,
        0.5,
        2.0,
        (LoadTarget(Side.BASELINE, tiny_target), LoadTarget(Side.CANDIDATE, tiny_target)),
    )
    result = run_load_distributed(spec, tmp_path, 2)
    sides = result.samples.to_pandas()["side"].value_counts()
    assert sides["baseline"] > 0 and sides["candidate"] > 0


@pytest.mark.e2e  # real Locust load on a master and two workers
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP])
def test_a_dead_or_hung_worker_fails_the_round(tiny_target: str, tmp_path: Path, sig: int) -> None:
    done: list[int] = []
    start = time.monotonic()

    def watch() -> None:  # mid-round: after the warm-up, while users are running
        workers = _workers()
        if not done and len(workers) == 2 and time.monotonic() - start > 4.0:
            os.kill(workers[1].pid, sig)
            done.append(workers[1].pid)

    with pytest.raises(LoadError, match="Locust worker"):
        run_load_distributed(_spec(tiny_target, duration=60.0), tmp_path, 2, watch=watch)
    assert done
    assert not _workers()
    assert not psutil.pid_exists(done[0]) or psutil.Process(done[0]).status() == psutil.STATUS_ZOMBIE


def test_missing_workers_time_out(tmp_path: Path) -> None:
    spec = _spec("http://127.0.0.1:9")

    def watch() -> None:  # kill the workers before they can connect
        for p in _workers():
            p.kill()

    with pytest.raises(LoadError, match="worker"):
        run_load_distributed(spec, tmp_path, 2, watch=watch, expect_timeout=2.0)


def test_bad_locustfile_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    spec = LoadSpec(str(bad), ("X",), 1, 1.0, 0.0, 1.0, (LoadTarget(Side.BASELINE, "http://127.0.0.1:9"),))
    with pytest.raises(LoadError, match="bad.py"):
        run_load_distributed(spec, tmp_path / "w", 1, expect_timeout=5.0)
