"""perfgate nodes end to end on loopback: three nodes of one deployment started by the test, one
of them hashing passwords with 4x the scrypt work (a real CPU regression on every login)."""

from __future__ import annotations

import json

import pytest

from tests.live.services import im_repo, services
from tests.live.test_live_e2e import ENV, LIVE_CONFIG, write_accounts
from tests.support import assert_no_children, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_gates")]


def test_three_nodes_name_the_one_with_the_costly_login(tmp_path):
    repo_dir = tmp_path / "repo"
    config = (
        LIVE_CONFIG.replace('version_path = "/version"', "")
        .replace("users = 4", "users = 8")
        .replace("duration = 4", "duration = 6")
    )
    im_repo(repo_dir, config, factor=1)  # 8 users a node for 6 s: ~2x min_count logins a round
    write_accounts(repo_dir)
    nodes = [(repo_dir, []), (repo_dir, []), (repo_dir, ["--scrypt-log2n", "14"])]  # node3: 4x the work
    with services(nodes, tmp_path) as urls:
        result = run_cli("nodes", *urls, "--rounds", "5", "--json", "nodes.json", cwd=repo_dir, env=ENV, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    found = json.loads((repo_dir / "nodes.json").read_text())
    assert found["outliers"] == ["node3"], out
    assert f"outlier: node3 ({urls[2]})" in result.stdout
    login = {c["node"]: c for c in found["comparisons"] if (c["name"], c["metric"]) == ("login", "p50")}
    assert login["node3"]["verdict"] == "regression" and login["node3"]["ratio"] > 1.5, login["node3"]
    assert login["node1"]["verdict"] != "regression" and login["node2"]["verdict"] != "regression"
    assert_no_children()
