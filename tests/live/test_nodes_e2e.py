"""perfgate nodes end to end on loopback: three nodes of one deployment started by the test, one
of them hashing passwords with 8x the scrypt work (a real CPU regression on every login).

Sized for a loaded machine. With 4x the work (about +30 ms of CPU a login) and 5 rounds, a CI
run beside a second one read node3's login p50 at +144% with an interval of [-45%, +369%]: the
waiting a busy machine adds to every login swamped a small additive cost, round by round. 8x
(about +85 ms) and 8 rounds keep the outlier's lower bound far above the margin. Node3's own
users, busy logging in, also chat less, so its deliver p50 is lower: each node's pool is the
median of all three, so that this cannot push node1 or node2 out."""

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
    nodes = [(repo_dir, []), (repo_dir, []), (repo_dir, ["--scrypt-log2n", "15"])]  # node3: 8x the work
    with services(nodes, tmp_path) as urls:
        result = run_cli("nodes", *urls, "--rounds", "8", "--json", "nodes.json", cwd=repo_dir, env=ENV, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    found = json.loads((repo_dir / "nodes.json").read_text())
    assert found["outliers"] == ["node3"], out
    assert f"outlier: node3 ({urls[2]})" in result.stdout
    login = {c["node"]: c for c in found["comparisons"] if (c["name"], c["metric"]) == ("login", "p50")}
    assert login["node3"]["verdict"] == "regression" and login["node3"]["ratio"] > 1.5, login["node3"]
    assert login["node1"]["verdict"] != "regression" and login["node2"]["verdict"] != "regression"
    assert_no_children()
