"""A real gate SIGKILLed at several points: ``perfgate gc`` (or the next gate's start) leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git
import psutil
import pytest

from perfgate import gitops
from perfgate.leftovers import OWNER_FILE, owner_pid
from perfgate.procs import OWNER_ENV
from perfgate.store import LocalStore
from tests.history.imrepo import build_im_repo
from tests.support import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_gates")]  # see pyproject [tool.pytest.ini_options]

#: The smallest profile: 2 users, 1 s rounds.
SMALLEST = """\
[target]
command = "{python} -m loadtests.imserver --port {port} --data {data_dir} --users 40"
stop_timeout = 3

[load]
locustfile = "loadtests/im.py"
user_classes = ["ChatUser"]
users = 2
spawn_rate = 2
warmup = 0.5
duration = 1

[rounds]
design = "duet"
count = 2
max = 2
"""


def start_gate(repo: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "perfgate.cli", "run", "--baseline", "HEAD~1", "--candidate", "HEAD", "--no-reuse"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def scratch_of(pid: int) -> Path | None:
    for path in Path(tempfile.gettempdir()).glob("perfgate-*"):
        try:
            if json.loads((path / OWNER_FILE).read_text()).get("pid") == pid:
                return path
        except (OSError, ValueError):
            continue
    return None


def marked(pid: int) -> list[psutil.Process]:
    """Live processes whose owner marker names ``pid``."""
    found = []
    for proc in psutil.process_iter():
        try:
            if owner_pid(proc.environ().get(OWNER_ENV)) == pid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_for(what: str, check, gate: subprocess.Popen, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert gate.poll() is None, f"the gate ended before {what}: {gate.stderr.read()[-2000:]}"
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def run_state(repo: Path, run_id: str) -> str:
    return next(r.state for r in LocalStore(repo / ".perfgate").list_runs() if r.run_id == run_id)


def kill_at(repo: Path, point: str) -> tuple[int, Path, str]:
    """Start a gate, SIGKILL it at ``point``; its pid, scratch folder and run id."""
    gate = start_gate(repo)
    try:
        scratch = wait_for("its scratch folder", lambda: scratch_of(gate.pid), gate)
        run_id = wait_for("its run", lambda: json.loads((scratch / OWNER_FILE).read_text()).get("run_id"), gate)
        round0 = scratch / "round-000"
        stored0 = repo / ".perfgate" / "runs" / run_id / "rounds" / "000.json"
        if point == "booting":  # both targets launched, load not started
            wait_for(
                "the targets to launch",
                lambda: (
                    (round0 / "candidate" / "target.log").exists()
                    and (round0 / "baseline" / "target.log").exists()
                    and not (round0 / "load").exists()
                ),
                gate,
            )
        elif point == "round":  # the load is running
            wait_for("the load to start", lambda: (round0 / "load" / "started").exists(), gate)
        else:  # "between": round 0 stored, round 1 not started
            wait_for("round 0 to be stored", lambda: stored0.exists(), gate)
        os.kill(gate.pid, signal.SIGKILL)
        gate.wait(10)
    finally:
        if gate.poll() is None:
            gate.kill()
            gate.wait()
        gate.stderr.close()
    return gate.pid, scratch, run_id


def assert_left_behind(repo: Path, pid: int, scratch: Path, run_id: str, point: str) -> None:
    assert scratch.is_dir() and run_state(repo, run_id) == "running"
    assert any(scratch in p.parents for p in gitops.worktrees(git.Repo(repo)))
    if point != "between":
        assert marked(pid), "a killed gate mid-round leaves its targets running"


def assert_cleaned(repo: Path, pid: int, scratch: Path, run_id: str) -> None:
    deadline = time.monotonic() + 15
    while marked(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marked(pid) == []
    assert not [p for p in gitops.worktrees(git.Repo(repo)) if scratch in p.parents]
    assert not scratch.exists()
    assert run_state(repo, run_id) == "interrupted"


@pytest.fixture(scope="module")
def im_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("gc") / "im"
    build_im_repo(repo, commits=2, regress_at=99, config=SMALLEST)
    return repo


@pytest.mark.parametrize("point", ["booting", "round", "between"])
def test_gc_cleans_up_after_a_killed_gate(im_repo, point):
    pid, scratch, run_id = kill_at(im_repo, point)
    assert_left_behind(im_repo, pid, scratch, run_id, point)
    result = run_cli("gc", cwd=im_repo, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 runs marked interrupted" in " ".join(result.stderr.split())
    assert_cleaned(im_repo, pid, scratch, run_id)


def test_the_next_gate_cleans_up_at_its_start(im_repo):
    pid, scratch, run_id = kill_at(im_repo, "round")
    assert_left_behind(im_repo, pid, scratch, run_id, "round")
    gate = start_gate(im_repo)
    try:
        wait_for("the next gate to reap", lambda: run_state(im_repo, run_id) == "interrupted", gate)
        assert_cleaned(im_repo, pid, scratch, run_id)
        wait_for("the next gate's own scratch folder", lambda: scratch_of(gate.pid), gate)  # it goes on
    finally:
        gate.send_signal(signal.SIGTERM)
        gate.wait(60)
        gate.stderr.close()
    assert marked(gate.pid) == [] and scratch_of(gate.pid) is None
