"""The talk's failure: a slow external gateway makes undelivered messages queue in RAM.

The baseline bounds the gateway queue (backpressure); the candidate "simplifies"
it away. Latency alone does not show the difference; the gate's resource
metrics (peak queue depth) do, and the report shows the queue growing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfgate.commands.demo import build_demo_repo
from perfgate.store import LocalStore
from tests.support import AUTHOR, assert_nothing_left, run_cli

pytestmark = pytest.mark.e2e

LOCUSTFILE = """
from perfgate.reference.im import ChatUser


class GatewayChatUser(ChatUser):
    ext_share = 0.9  # most sends go to the external network
"""

CONFIG = """
[target]
# A slow external IM network next to the service; the queue limit comes from the checkout.
command = '''{python} -m loadtests.imserver.gateway_peer --port $(({port} + 1)) --delay-ms 1000 & \\
    exec {python} -m loadtests.imserver --port {port} --data {data_dir} \\
    --gateway 127.0.0.1:$(({port} + 1)) --gateway-queue-limit $(cat gateway-queue-limit)'''

[load]
locustfile = "gateway_locustfile.py"
user_classes = ["GatewayChatUser"]
users = 6
spawn_rate = 6
warmup = 1
duration = 7

[rounds]
count = 4
max = 4

[judge]
metrics = ["queue_peak", "p50"]
"""


def test_unbounded_gateway_queue_is_a_regression(tmp_path):
    repo_dir = tmp_path / "repo"
    repo_dir.mkdir()
    repo = build_demo_repo(repo_dir)
    repo.git.reset("--hard", "HEAD~1")
    (repo_dir / "gateway_locustfile.py").write_text(LOCUSTFILE)
    (repo_dir / "gateway.toml").write_text(CONFIG)
    (repo_dir / "gateway-queue-limit").write_text("10\n")
    repo.git.add(A=True)
    repo.index.commit("gateway: bounded queue with backpressure", author=AUTHOR, committer=AUTHOR)
    (repo_dir / "gateway-queue-limit").write_text("0\n")
    repo.git.add(A=True)
    repo.index.commit("gateway: drop the queue limit", author=AUTHOR, committer=AUTHOR)

    out = tmp_path / "verdict.json"
    result = run_cli(
        "run",
        "--config",
        "gateway.toml",
        "--baseline",
        "HEAD~1",
        "--candidate",
        "HEAD",
        "--json",
        str(out),
        cwd=repo_dir,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = json.loads(out.read_text())
    queue = [m for m in verdict["metrics"] if m["metric"] == "queue_peak"]
    assert queue and queue[0]["verdict"] == "regression", queue
    assert queue[0]["baseline"] == pytest.approx(10) and queue[0]["candidate"] > 20

    store = LocalStore(repo_dir / ".perfgate")
    resources = store.resources(verdict["run_id"], 0)
    by_side = resources.groupby("side")["queue_depth"].max()
    assert by_side["candidate"] > by_side["baseline"]
    assert "queue depth" in Path(verdict["report"]).read_text()
    assert_nothing_left(repo_dir)
