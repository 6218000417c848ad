"""The talk's central failure test, as a gate: the MariaDB primary is killed under load.

The baseline degrades correctly (read-only, sends fail fast). Candidates that
crash, or that acknowledge writes and lose them, must fail the gate whatever
their latency; an identical candidate must not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate.commands.demo import build_demo_repo
from perfgate.figures import FailoverFigures
from perfgate.store import LocalStore
from tests.mariadb_fixture import require_mariadb
from tests.support import AUTHOR, assert_nothing_left, gate_flagged_commit

pytestmark = pytest.mark.e2e

CONFIG = """
[load]
users = 4
spawn_rate = 4
warmup = 1
duration = 9

[rounds]
count = 3
max = 3

[judge]
metrics = ["p50"]
margin = 0.5

[scenarios.failover]
database = "mariadb"
command = "{python} -m loadtests.imserver --port {port} --data {data_dir} {db_args} $(cat failover-flags)"

[[scenarios.failover.chaos]]
at = 3
action = "kill"
process = "primary"
for = 3
"""


@pytest.fixture(scope="module")
def failover_repo(tmp_path_factory):
    require_mariadb()
    repo_dir = tmp_path_factory.mktemp("failover") / "repo"
    repo_dir.mkdir()
    repo = build_demo_repo(repo_dir)
    repo.git.reset("--hard", "HEAD~1")
    (repo_dir / "failover.toml").write_text(CONFIG)
    (repo_dir / "failover-flags").write_text("\n")
    repo.git.add(A=True)
    repo.index.commit("storage: MariaDB primary and replica", author=AUTHOR, committer=AUTHOR)
    repo.main_branch = repo.active_branch.name
    return repo


def gate(repo, tmp_path, flags: str, *rounds: str) -> tuple[int, dict]:
    return gate_flagged_commit(repo, tmp_path, "failover.toml", "failover-flags", flags, *rounds)


#: The hard checks are exact counts, decided without the latency pairs a pass needs (2 is the least a gate runs).
FEW_ROUNDS = ("--rounds", "2", "--max-rounds", "2")


def checks(verdict: dict) -> dict[str, dict]:
    return {m["metric"]: m for m in verdict["metrics"] if m["name"] == "(failover)"}


def test_correct_degradation_passes_and_is_measured(failover_repo, tmp_path):
    code, verdict = gate(failover_repo, tmp_path, "--db-check-interval 0.25")
    assert verdict["verdict"] != "regression", verdict["reason"]
    assert {k: m["verdict"] for k, m in checks(verdict).items()} == {
        "acked_lost": "pass",
        "went_down": "pass",
        "outage_reads_ok": "pass",
    }
    store = LocalStore(f"{failover_repo.working_tree_dir}/.perfgate")
    record = store.rounds(verdict["run_id"])[0]
    by_side = {figures.side: figures for figures in record.figures(FailoverFigures)}
    for side in ("baseline", "candidate"):
        figures = by_side[side]
        assert figures.detect_s is not None and figures.recover_s is not None
        assert figures.acknowledged > 0 and figures.acked_lost == 0
        assert figures.reads_ok_rate >= 0.999
    assert [w for w in record.windows if w.kind == "failover"]
    html = Path(verdict["report"]).read_text()
    assert "read-only" in html and "kill primary" in html
    assert_nothing_left(failover_repo.working_tree_dir)


def test_a_service_that_crashes_fails_the_gate(failover_repo, tmp_path):
    code, verdict = gate(failover_repo, tmp_path, "--failover-bug crash", *FEW_ROUNDS)
    assert code == 1
    assert checks(verdict)["went_down"]["verdict"] == "regression"
    assert "went down" in verdict["reason"]
    assert_nothing_left(failover_repo.working_tree_dir)


def test_lost_acknowledged_writes_fail_the_gate(failover_repo, tmp_path):
    code, verdict = gate(failover_repo, tmp_path, "--failover-bug lose", *FEW_ROUNDS)
    assert code == 1
    lost = checks(verdict)["acked_lost"]
    assert lost["verdict"] == "regression" and lost["candidate"] > 0 and lost["baseline"] == 0
    assert_nothing_left(failover_repo.working_tree_dir)
