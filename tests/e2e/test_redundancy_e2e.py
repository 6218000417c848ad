"""Issue 15's redundancy gate: three auth backends (two implementations) killed one after another
until all are down, then brought back. The correct service degrades (fast 503 logins, chat goes
on); candidates that stay on a dead backend, hang logins, or log everyone out fail the gate
whatever their latency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfgate.commands.demo import build_demo_repo
from perfgate.figures import RedundancyFigures
from perfgate.store import LocalStore
from tests.support import AUTHOR, assert_nothing_left, gate_flagged_commit, run_cli

pytestmark = pytest.mark.e2e

MEMBER = "{python} -m loadtests.imserver.authd --port {port} --data {data_dir} --seed-cache .imserver-seed --store "
TARGET = "{python} -m loadtests.imserver --port {port} --data {data_dir} --seed-cache .imserver-seed "
TARGET += "--auth-backends {auth} $(cat auth-flags)"
#: auth-0 down 2-9 s, auth-1 3.5-10.5 s, auth-2 5-12 s: one, two, then all three down for 4 s.
CONFIG = f"""
[load]
users = 4
spawn_rate = 4
warmup = 1
duration = 13

[rounds]
count = 2
max = 2

[judge]
metrics = ["p50"]
margin = 0.5

[scenarios.redundancy]
command = "{TARGET}"

[scenarios.redundancy.groups.auth]
members = ["{MEMBER}sqlite", "{MEMBER}memory", "{MEMBER}sqlite"]

[[scenarios.redundancy.chaos]]
at = 2
action = "kill"
process = "auth"
stagger = 1.5
for = 7
"""


@pytest.fixture(scope="module")
def redundancy_repo(tmp_path_factory):
    repo_dir = tmp_path_factory.mktemp("redundancy") / "repo"
    repo_dir.mkdir()
    repo = build_demo_repo(repo_dir)
    repo.git.reset("--hard", "HEAD~1")
    (repo_dir / "redundancy.toml").write_text(CONFIG)
    (repo_dir / "auth-flags").write_text("\n")
    repo.git.add(A=True)
    repo.index.commit("login through three redundant auth backends", author=AUTHOR, committer=AUTHOR)
    repo.main_branch = repo.active_branch.name
    return repo


def gate(repo, tmp_path, flags: str) -> tuple[int, dict]:
    return gate_flagged_commit(repo, tmp_path, "redundancy.toml", "auth-flags", flags)


def checks(verdict: dict) -> dict[str, dict]:
    return {m["metric"]: m for m in verdict["metrics"] if m["name"] == "(redundancy)"}


def test_correct_degradation_passes_and_is_measured(redundancy_repo, tmp_path):
    code, verdict = gate(redundancy_repo, tmp_path, "")
    assert verdict["verdict"] != "regression", verdict["reason"]
    assert {k: m["verdict"] for k, m in checks(verdict).items()} == {
        "went_down": "pass",
        "all_down_login_p50_ms": "pass",
        "all_down_chat_ok": "pass",
        "all_down_chat_continuity": "pass",
        "degraded_login_ok": "pass",
    }
    record = LocalStore(f"{redundancy_repo.working_tree_dir}/.perfgate").rounds(verdict["run_id"])[0]
    for figures in record.figures(RedundancyFigures):
        assert [p.phase for p in figures.phases] == ["all up", "one down", "two down", "all down", "recovering"]
        down = figures.phase("all down")
        assert down is not None and down.logins > 0 and down.login_ok_rate == 0.0 and down.send_ok_rate == 1.0
        assert figures.recover_ms is not None and figures.all_down_ms is not None
        assert [s is not None for s in figures.shed_ms] == [True, True, True]
    html = Path(verdict["report"]).read_text()
    assert "auth all down" in html and "kill auth-2" in html
    assert "Redundant dependencies, phase by phase" in html and "recovering" in html
    assert_nothing_left(redundancy_repo.working_tree_dir)


@pytest.mark.parametrize(
    ("flags", "check"),
    [
        ("--auth-bug no-failover", "degraded_login_ok"),
        ("--auth-bug unbounded-retries", "all_down_login_p50_ms"),
        ("--auth-bug logout-all", "all_down_chat_continuity"),
    ],
)
def test_a_broken_pool_fails_the_gate(redundancy_repo, tmp_path, flags, check):
    code, verdict = gate(redundancy_repo, tmp_path, flags)
    assert code == 1, verdict["reason"]
    assert checks(verdict)[check]["verdict"] == "regression", checks(verdict)
    assert_nothing_left(redundancy_repo.working_tree_dir)


def test_a_member_that_cannot_start_is_one_clear_error(redundancy_repo, tmp_path):
    repo_dir = Path(redundancy_repo.working_tree_dir)
    (repo_dir / "bad.toml").write_text(CONFIG.replace("--store memory", "--store nope"))
    try:
        result = run_cli("run", "--config", "bad.toml", "--baseline", "HEAD", "--candidate", "HEAD", cwd=repo_dir)
    finally:
        (repo_dir / "bad.toml").unlink()
    assert result.returncode == 3, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("perfgate: error:")]
    assert len(lines) == 1 and "auth-1" in lines[0] and "invalid choice: 'nope'" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_left(repo_dir)


#: Proxy stalls instead of chaos: auth-0's link stalls 2-6 s, auth-1's 3-7 s (no byte comes back).
STALL = (
    CONFIG.split("[[scenarios.redundancy.chaos]]")[0]
    + """
[[scenarios.redundancy.faults]]
at = 2
for = 4
link = "auth"
members = [0, 1]
stagger = 1
toxic = "timeout"
timeout = 0
"""
)


def test_stalled_links_of_two_members_fail_over(redundancy_repo, tmp_path):
    repo_dir = Path(redundancy_repo.working_tree_dir)
    (repo_dir / "stall.toml").write_text(STALL)
    out = tmp_path / "verdict.json"
    try:
        result = run_cli(
            "run",
            "--config",
            "stall.toml",
            "--baseline",
            "HEAD",
            "--candidate",
            "HEAD",
            "--json",
            str(out),
            cwd=repo_dir,
        )
    finally:
        (repo_dir / "stall.toml").unlink()
    assert result.returncode in (0, 2), result.stdout + result.stderr
    verdict = json.loads(out.read_text())
    assert {k: m["verdict"] for k, m in checks(verdict).items()}["degraded_login_ok"] == "pass"
    record = LocalStore(f"{repo_dir}/.perfgate").rounds(verdict["run_id"])[0]
    assert sorted({w.label for w in record.windows if w.kind == "fault"}) == [
        "timeout downstream timeout=0 on auth-0",
        "timeout downstream timeout=0 on auth-1",
    ]
    for figures in record.figures(RedundancyFigures):
        assert [p.phase for p in figures.phases] == ["all up", "one down", "two down", "recovering"]
        assert figures.phase("two down").login_ok_rate >= 0.95  # auth-2 still answers
    assert_nothing_left(repo_dir)
