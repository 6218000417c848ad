"""Reuse pools only complete runs under the full key; one gate measures at a time; a failed run or a
failed report never hides a verdict."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time

import pytest

from perfgate.commands._common import ReportRequest, publish
from perfgate.commands.run import finish
from perfgate.config import load_config
from perfgate.gate import GateOptions, run_gate
from perfgate.measurelock import MeasureLockBusy, measurement_lock
from perfgate.model import State
from perfgate.outcome import EXIT_CODES
from perfgate.store import LocalStore
from perfgate.store.query import Measurements
from tests.stored_runs import backend_round, build_repo, write_run
from tests.support import run_cli


def test_reuse_pools_only_complete_runs(tmp_path):
    repo = tmp_path / "repo"
    config, baseline, candidate = build_repo(repo)
    store = LocalStore(repo / ".perfgate")
    for state in ("error", "interrupted", None):  # None: still "running" (or killed)
        write_run(store, config, baseline, candidate, state=state, ratio=3.0)
    measurements = Measurements(store)
    assert measurements.pooled_verdict(config, baseline, candidate).verdict is None
    good = write_run(store, config, baseline, candidate)
    pooled = Measurements(store).pooled_verdict(config, baseline, candidate)
    assert pooled.run_ids == (good,) and pooled.pairs == 3 and pooled.verdict.state is State.PASS


def test_a_changed_locustfile_is_a_new_key(tmp_path):
    repo = tmp_path / "repo"
    config, baseline, candidate = build_repo(repo)
    store = LocalStore(repo / ".perfgate")
    write_run(store, config, baseline, candidate)
    before = config.measurement_hash()
    assert Measurements(store).pooled_verdict(config, baseline, candidate).pairs == 3
    (repo / "locustfile.py").write_text((repo / "locustfile.py").read_text() + "\n# think time changed\n")
    changed = load_config(directory=repo)
    assert changed.measurement_hash() != before
    assert Measurements(store).pooled_verdict(changed, baseline, candidate).verdict is None


HOLDER = textwrap.dedent("""
    import fcntl, os, sys, time
    handle = open(sys.argv[1], "a+")
    fcntl.flock(handle, fcntl.LOCK_EX)
    handle.seek(0); handle.truncate(); handle.write(f"{os.getpid()}\\n"); handle.flush()
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def hold_lock(path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_the_second_gate_waits_then_measures(tmp_path):
    lock = tmp_path / "measure.lock"
    holder = hold_lock(lock, 1.0)
    told = []
    started = time.monotonic()
    try:
        with measurement_lock(on_wait=told.append, path=lock):
            waited = time.monotonic() - started
            assert lock.read_text().strip() == str(os.getpid())
    finally:
        holder.wait(10)
    assert told == [f"waiting for another perfgate gate (pid {holder.pid}) to finish measuring (lock {lock})"]
    assert waited > 0.5
    with measurement_lock(path=lock, wait=False):  # free again once released
        pass


def test_no_wait_fails_fast(tmp_path):
    lock = tmp_path / "measure.lock"
    holder = hold_lock(lock, 30)
    try:
        with (
            pytest.raises(MeasureLockBusy, match=rf"pid {holder.pid}\) is measuring on this machine"),
            measurement_lock(path=lock, wait=False),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_cli_no_wait_is_one_line_and_exit_3(tmp_path):
    repo = tmp_path / "repo"
    build_repo(repo)
    lock = tmp_path / "measure.lock"
    holder = hold_lock(lock, 60)
    try:
        result = run_cli(
            "run",
            "--baseline",
            "HEAD~1",
            "--candidate",
            "HEAD",
            "--no-wait",
            cwd=repo,
            env={"PERFGATE_LOCK": str(lock)},
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 3, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("perfgate: error: another perfgate gate (pid ") and "--no-wait" in lines[-1]
    assert str(holder.pid) in lines[-1] and "Traceback" not in result.stderr
    store = LocalStore(repo / ".perfgate")
    assert [r.state for r in store.list_runs()] == ["error"]


def test_report_latest_skips_runs_without_a_verdict(tmp_path):
    repo = tmp_path / "repo"
    config, baseline, candidate = build_repo(repo)
    store = LocalStore(repo / ".perfgate")
    judged = write_run(store, config, baseline, candidate)
    write_run(store, config, baseline, candidate, state="error")
    result = run_cli("report", "latest", "--out", str(tmp_path / "out"), cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / f"{judged}.html").is_file()
    empty = tmp_path / "empty"
    failed_only = LocalStore(empty / ".perfgate")
    write_run(failed_only, config, baseline, candidate, state="interrupted")
    result = run_cli(
        "report", "latest", "--store", str(empty / ".perfgate"), "--out", str(tmp_path / "o2"), cwd=tmp_path
    )
    assert result.returncode == 3
    assert "no run in the store has a verdict yet" in result.stderr.strip().splitlines()[-1]


def slower_candidate(state, scenario, spec):
    """The gate's round runner: the candidate twice as slow."""
    return backend_round(state, spec, ratio=2.0)


def test_a_report_failure_keeps_the_regression(tmp_path, capsys):
    repo = tmp_path / "repo"
    config, _, _ = build_repo(repo)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the report folder should be")
    options = GateOptions(baseline="HEAD~1", candidate="HEAD", reuse=False)
    result = run_gate(config, repo, options, round_runner=slower_candidate)
    assert result.verdict.state is State.REGRESSION
    # the CLI writes the reports, not the gate
    published = publish(result, config, ReportRequest(out_dir=blocker / "reports"))
    assert "reports not written" in published.error and f"perfgate report {result.run_id}" in published.error
    code = finish(result, published, argparse.Namespace(inconclusive=None), "warn")
    assert EXIT_CODES[code] == 1
    assert "perfgate: warning: reports not written" in capsys.readouterr().err
    assert LocalStore(repo / ".perfgate").list_runs()[-1].state == "regression"


def test_the_reuse_key_holds_the_installed_perfgate_and_locust_versions(tmp_path):
    """A new perfgate (whose defaults may measure differently) or Locust never pools old rounds."""
    from importlib import metadata

    config, _, _ = build_repo(tmp_path / "repo")
    inputs = config._load_inputs()
    assert inputs["perfgate"] == metadata.version("perfgate")
    assert inputs["locust"] == metadata.version("locust")
