"""A real gate with 2 Locust workers against the reference IM service (loadtests/im.py, ChatUser)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from perfgate import gate
from perfgate.config import load_config
from perfgate.load.distributed import run_load_distributed
from perfgate.load.runner import LoadSpec, LoadTarget
from perfgate.model import Side
from perfgate.procs import kill_tree
from perfgate.target import free_port

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e  # real Locust load over two workers, and a real gate


def test_im_chat_users_over_two_workers(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "perfgate.reference.imserver",
            "--port",
            str(port),
            "--data",
            str(tmp_path / "data"),
            "--users",
            "40",
        ],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import urllib.request

        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        spec = LoadSpec(
            str(REPO / "loadtests/im.py"),
            ("ChatUser",),
            6,
            20.0,
            1.0,
            4.0,
            (LoadTarget(Side.BASELINE, f"http://127.0.0.1:{port}"),),
        )
        result = run_load_distributed(spec, tmp_path / "load", 2)
    finally:
        kill_tree(server, 5)
    status = json.loads((tmp_path / "load" / "status.json").read_text())
    assert sorted(status["rows_per_worker"]) == ["0", "1"]
    df = result.samples.to_pandas()
    assert {"login", "send"} <= set(df["name"])
    assert df["ok"].mean() > 0.9


def test_real_gate_with_two_workers(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    for name in ("loadtests",):
        subprocess.run(["cp", "-rL", str(REPO / name), str(repo / name)], check=True)  # loadtests/ links into perfgate/
    (repo / "perfgate.toml").write_text(
        "[load]\nusers = 6\nwarmup = 1\nduration = 3\nworkers = 2\n[rounds]\ncount = 2\nmax = 2\n"
        "[judge]\nmin_count = 5\n"
    )
    for msg in ("one", "two"):
        (repo / "note.txt").write_text(msg)
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "."], cwd=repo, check=True)
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", msg], cwd=repo, check=True)
    seen: set[int] = set()
    stop = threading.Event()

    def spy() -> None:  # the workers are real processes, two at a time
        while not stop.wait(0.2):
            for p in psutil.Process().children(recursive=True):
                try:
                    if p.cmdline()[3:4] == ["worker"] and "perfgate.load.dist_worker" in p.cmdline():
                        seen.add(p.pid)
                except psutil.Error:
                    pass

    thread = threading.Thread(target=spy, daemon=True)
    thread.start()
    try:
        result = gate.run_gate(
            load_config(directory=repo),
            repo,
            gate.GateOptions(baseline="HEAD~1", candidate="HEAD"),
        )
    finally:
        stop.set()
        thread.join(5)
    assert result.verdict.rounds == 2 and result.verdict.metrics
    assert len(seen) >= 4  # two workers per round, two rounds
