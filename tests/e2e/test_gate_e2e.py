"""Whole gates with real processes, real Locust, real git worktrees and real files."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from perfgate.commands.demo import build_demo_repo
from perfgate.store import LocalStore
from tests.support import AUTHOR, assert_no_children, assert_nothing_left, perfgate_children, run_cli

pytestmark = pytest.mark.e2e

SHORT = """
[target]
command = "{command}"
ready_timeout = 30
port = {port}

[load]
locustfile = "{locustfile}"
user_classes = ["ChatUser"]
users = 4
spawn_rate = 4
warmup = 1
duration = 2

[rounds]
design = "{design}"
count = 2
max = 2
"""
#: 40 seeded accounts instead of 200: each target boots in a fraction of the time.
IMSERVER = "{python} -m loadtests.imserver --port {port} --data {data_dir} --users 40"


def short_config(
    repo_dir: Path,
    *,
    command: str = IMSERVER,
    port: int = 0,
    locustfile: str = "loadtests/im.py",
    design: str = "duet",
    text: str = SHORT,
) -> Path:
    path = repo_dir / "short.toml"
    path.write_text(text.format(command=command.replace('"', '\\"'), port=port, locustfile=locustfile, design=design))
    return path


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "repo"
    path.mkdir()
    build_demo_repo(path)
    return path


def one_line_error(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode == 3, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("perfgate: error: "), result.stderr
    assert needle in lines[-1], lines[-1]
    assert "Traceback" not in result.stderr


def test_demo_flags_the_login_regression(tmp_path):
    """The README's first command, whole: the demo profile, the four outputs, the store, the cleanup."""
    result = run_cli("demo", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    reports = tmp_path / "reports"
    verdict = json.loads((reports / "demo-verdict.json").read_text())
    assert verdict["verdict"] == "regression"
    flagged = {(m["name"], m["metric"]) for m in verdict["metrics"] if m["verdict"] == "regression"}
    # +25% CPU per login: the target's CPU per request rises by login's share of it (~2/3)
    assert ("(target)", "cpu_per_request") in flagged, flagged
    cpu = [m for m in verdict["metrics"] if m["metric"] == "cpu_per_request"][0]
    assert 1.08 < cpu["ratio"] < 1.3 and cpu["ci_low"] > 1.02
    login = [m for m in verdict["metrics"] if m["name"] == "login" and m["metric"] == "p50"][0]
    assert login["ratio"] > 1.05
    assert Path(verdict["report"]).is_file() and Path(verdict["report"]).parent == reports
    assert (reports / "demo-summary.md").is_file() and (reports / "demo-junit.xml").is_file()
    store = LocalStore(tmp_path / ".perfgate")
    run_id = verdict["run_id"]
    rounds = store.rounds(run_id)
    assert len(rounds) >= 6 and all(r.valid for r in rounds)
    samples = store.samples(run_id, 0)
    assert {"login", "send", "deliver"} <= set(samples["name"])
    assert set(samples["side"]) == {"baseline", "candidate"}
    assert samples["warmup"].any() and not samples["warmup"].all()
    assert not store.resources(run_id, 0).empty
    scratch = re.search(r"demo repository: (\S+)", result.stderr + result.stdout)
    assert scratch and not Path(scratch.group(1)).exists()  # the scratch repository and its worktrees are gone
    assert_no_children()


#: The A/A profile: enough requests per round to judge p50 and p95 of the busy endpoints.
AA = """
[target]
command = "{command}"

[load]
locustfile = "{locustfile}"
user_classes = ["ChatUser"]
users = 8
spawn_rate = 8
warmup = 1
duration = 4

[rounds]
design = "{design}"
count = 3
max = 5
"""


def test_identical_code_is_not_a_regression(tmp_path):
    repo_dir = tmp_path / "aa"
    repo_dir.mkdir()
    repo = build_demo_repo(repo_dir)
    repo.git.reset("--hard", "HEAD~1")
    (repo_dir / "README.md").write_text("docs only\n")
    repo.git.add(A=True)
    repo.index.commit("docs: describe the service", author=AUTHOR, committer=AUTHOR)
    config = short_config(repo_dir, text=AA)
    out = tmp_path / "verdict.json"
    result = run_cli(
        "run", "--config", str(config), "--baseline", "HEAD~1", "--candidate", "HEAD", "--json", str(out), cwd=repo_dir
    )
    assert result.returncode in (0, 2), result.stdout + result.stderr
    verdict = json.loads(out.read_text())
    assert verdict["verdict"] != "regression"
    assert not [m for m in verdict["metrics"] if m["verdict"] == "regression"]


def test_interleaved_design_runs_one_side_per_round(demo_repo, tmp_path):
    config = short_config(demo_repo, design="interleaved")
    out = tmp_path / "v.json"
    result = run_cli(
        "run", "--config", str(config), "--baseline", "HEAD~1", "--candidate", "HEAD", "--json", str(out), cwd=demo_repo
    )
    assert result.returncode in (0, 1, 2), result.stderr
    run_id = json.loads(out.read_text())["run_id"]
    rounds = LocalStore(demo_repo / ".perfgate").rounds(run_id)
    assert len(rounds) == 4 and all(len(r.sides) == 1 for r in rounds)
    assert sorted(r.pair for r in rounds) == [0, 0, 1, 1]


def test_target_that_fails_to_start(demo_repo):
    config = short_config(demo_repo, command="{python} -c \"import sys; print('cannot bind'); sys.exit(5)\"")
    one_line_error(run_cli("run", "--config", str(config), cwd=demo_repo), "exited with code 5: cannot bind")
    assert_nothing_left(demo_repo)


def test_target_that_dies_mid_round(demo_repo):
    dying = (
        '{python} -c "import subprocess, sys, time; '
        "p = subprocess.Popen([sys.executable, '-m', 'loadtests.imserver', '--port', '{port}', "
        "'--data', '{data_dir}']); time.sleep(4); p.kill(); sys.exit(9)\""
    )
    config = short_config(demo_repo, command=dying)
    one_line_error(run_cli("run", "--config", str(config), cwd=demo_repo), "exited with code 9")
    assert_nothing_left(demo_repo)


def test_port_already_in_use(demo_repo):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = short_config(demo_repo, port=port)
        one_line_error(run_cli("run", "--config", str(config), cwd=demo_repo), f"port {port}")
    assert_nothing_left(demo_repo)


def test_locustfile_that_does_not_import(demo_repo):
    (demo_repo / "broken_locustfile.py").write_text("import no_such_module\n")
    config = short_config(demo_repo, locustfile="broken_locustfile.py")
    one_line_error(run_cli("run", "--config", str(config), cwd=demo_repo), "No module named 'no_such_module'")
    assert_nothing_left(demo_repo)


def test_unknown_user_class(demo_repo):
    config = short_config(demo_repo)
    config.write_text(config.read_text().replace('["ChatUser"]', '["GhostUser"]'))
    one_line_error(run_cli("run", "--config", str(config), cwd=demo_repo), "no user class 'GhostUser'")


SHAPED = """
from locust import FastHttpUser, LoadTestShape, constant, task

from loadtests.im import ChatUser  # the IM scenario's users, as they are


class Idle(FastHttpUser):
    wait_time = constant(0.2)

    @task
    def ping(self):
        self.client.get("/nowhere", name="idle")


class OnlyChat(LoadTestShape):
    # chat users only, and stop at 3.5 s of the round's planned 1 + 10
    def tick(self):
        return (4, 8, [ChatUser]) if self.get_run_time() < 3.5 else None
"""


def shaped_config(repo_dir: Path, extra: str = "") -> Path:
    (repo_dir / "shaped.py").write_text(SHAPED)
    config = short_config(repo_dir, locustfile="shaped.py")
    text = config.read_text().replace('["ChatUser"]', '["ChatUser", "Idle"]').replace("duration = 2", "duration = 10")
    config.write_text(text.replace("[rounds]", extra + "\n[rounds]"))
    return config


def test_a_load_shape_drives_every_rounds_users_and_ends_it(demo_repo, tmp_path):
    verdict_path = tmp_path / "verdict.json"
    result = run_cli("run", "--config", str(shaped_config(demo_repo)), "--json", str(verdict_path), cwd=demo_repo)
    assert result.returncode in (0, 2), result.stdout + result.stderr
    store, run_id = LocalStore(demo_repo / ".perfgate"), json.loads(verdict_path.read_text())["run_id"]
    rounds = store.rounds(run_id)
    assert len(rounds) == 2
    for record in rounds:
        samples = store.samples(run_id, record.index)
        assert "login" in set(samples["name"]) and "idle" not in set(samples["name"])  # the tick's classes
        assert set(samples["side"]) == {"baseline", "candidate"}
        assert (samples["t_ns"].max() - samples["t_ns"].min()) / 1e9 < 8  # the shape's end, not the planned 11 s
    assert_nothing_left(demo_repo)


def test_a_load_shape_with_distributed_load_is_one_line(demo_repo):
    config = shaped_config(demo_repo, extra="workers = 1\n")
    result = run_cli("run", "--config", str(config), cwd=demo_repo)
    one_line_error(result, "its shape OnlyChat (a LoadTestShape) runs only with workers = 0")
    assert_nothing_left(demo_repo)


def stored_text(*folders: Path) -> str:
    """Every file under ``folders`` as text, Parquet tables decoded (their strings may be compressed)."""
    import pyarrow.parquet as pq

    parts = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.suffix == ".parquet":
                parts.append(pq.read_table(path).to_pandas().to_csv())
            elif path.is_file():
                parts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def test_credentials_log_users_in_and_never_reach_the_store_or_a_report(demo_repo, tmp_path):
    (demo_repo / "accounts.csv").write_text("username,password\nuser0003,pass0003\nuser0004,wrong-secret-7f3a\n")
    config = short_config(demo_repo)
    config.write_text(config.read_text().replace("[load]\n", '[load]\ncredentials = "accounts.csv"\n'))
    verdict_path, reports = tmp_path / "verdict.json", tmp_path / "reports"
    args = ("run", "--config", str(config), "--json", str(verdict_path), "--markdown", str(tmp_path / "pr.md"))
    result = run_cli(*args, "--junit", str(tmp_path / "junit.xml"), "--out", str(reports), cwd=demo_repo)
    assert result.returncode in (0, 1, 2), result.stdout + result.stderr
    store = LocalStore(demo_repo / ".perfgate")
    run_id = json.loads(verdict_path.read_text())["run_id"]
    logins = store.samples(run_id, 0).query("name == 'login'")
    assert 0 < (~logins["ok"]).sum() < len(logins)  # user0004's wrong password fails, user0003 logs in
    written = stored_text(demo_repo / ".perfgate" / "runs" / run_id, reports) + result.stdout + result.stderr
    written += (tmp_path / "pr.md").read_text() + (tmp_path / "junit.xml").read_text() + verdict_path.read_text()
    assert store.manifest(run_id).config["scenarios"][0]["credentials"] == "<redacted>"  # the path too: a secret key
    assert "wrong-secret-7f3a" not in written and "pass0003" not in written
    assert_nothing_left(demo_repo)


def test_a_bad_credentials_file_is_one_line_before_anything_starts(demo_repo):
    (demo_repo / "accounts.csv").write_text("user,password\nuser0003,pass0003\n")
    config = short_config(demo_repo)
    config.write_text(config.read_text().replace("[load]\n", '[load]\ncredentials = "accounts.csv"\n'))
    one_line_error(run_cli("run", "--config", str(config), cwd=demo_repo), "the header has no 'username' column")
    assert_nothing_left(demo_repo)


def in_round() -> bool:
    """A load generator and a target are both running: a round, not the pre-flight check."""
    commands = []
    for child in perfgate_children():
        with contextlib.suppress(psutil.Error):
            commands.append(" ".join(child.cmdline()))
    return any("perfgate.load.worker" in c for c in commands) and any("imserver" in c for c in commands)


def test_ctrl_c_mid_round_cleans_up_and_keeps_earlier_results(demo_repo, tmp_path):
    store = LocalStore(demo_repo / ".perfgate")
    before = {r.run_id: store.rounds(r.run_id) for r in store.list_runs()}
    config = short_config(demo_repo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "perfgate.cli", "run", "--config", str(config)],
        cwd=demo_repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    deadline = time.monotonic() + 120
    while not in_round():  # the locustfile check also starts a worker, but before the run exists
        assert time.monotonic() < deadline and proc.poll() is None, "no round started"
        time.sleep(0.1)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert_nothing_left(demo_repo)
    runs = {r.run_id: r for r in store.list_runs()}
    assert [r for r in runs.values() if r.state == "interrupted"]
    for run_id, rounds in before.items():
        assert store.rounds(run_id) == rounds


def test_stored_pairs_of_the_same_comparison_are_reused(demo_repo, tmp_path):
    config = short_config(demo_repo)
    config.write_text(config.read_text().replace("[rounds]", "[judge]\nmin_count = 5\n\n[rounds]"))
    args = ("run", "--config", str(config), "--baseline", "HEAD~1", "--candidate", "HEAD")
    first, second, fresh = (tmp_path / f"{n}.json" for n in ("first", "second", "fresh"))
    assert run_cli(*args, "--json", str(first), cwd=demo_repo).returncode in (0, 1, 2)
    result = run_cli(*args, "--json", str(second), cwd=demo_repo)
    assert result.returncode in (0, 1, 2), result.stderr
    store = LocalStore(demo_repo / ".perfgate")
    again = json.loads(second.read_text())
    assert store.rounds(again["run_id"]) == []  # nothing measured: both planned pairs were stored
    assert any("reused" in note for note in again["notes"])
    assert [m["metric"] for m in again["metrics"]] == [m["metric"] for m in json.loads(first.read_text())["metrics"]]
    assert Path(again["report"]).is_file()
    assert run_cli(*args, "--no-reuse", "--json", str(fresh), cwd=demo_repo).returncode in (0, 1, 2)
    assert len(store.rounds(json.loads(fresh.read_text())["run_id"])) == 2
