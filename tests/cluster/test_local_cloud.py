"""The local cloud: the EC2 user-data really boots here, and a whole gate runs on the cluster.

moto serves EC2 and S3 over HTTP; each instance's rendered user-data runs as a
local process: IMDSv2 → presigned downloads → venv + wheel install → agent →
targets and Locust master/workers → results in S3 → verdict here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from perfgate.cluster.base import InfraSettings
from perfgate.cluster.remote import run_gate_on_cluster
from perfgate.commands._common import ReportRequest, publish
from perfgate.config import load_config
from perfgate.errors import InfraError
from perfgate.gate import GateOptions
from perfgate.model import State
from perfgate.store import open_store
from tests.cluster.cloud import CONFIG, count_left
from tests.support import live_processes

HERE = Path(__file__).parent


@pytest.mark.e2e  # boots the local cloud's nodes and runs a whole gate on them
def test_gate_on_the_local_cloud(moto_url: str, repo: Path, tmp_path: Path) -> None:
    settings = InfraSettings(bucket="pg-test", workers=2, owner="ci@test", max_duration_min=60)
    built = tmp_path / "built.txt"  # [target] setup says where it ran
    (repo / "perfgate.toml").write_text(
        CONFIG.replace("[target]\n", f'[target]\nsetup = "echo {{worktree}} >> {built}"\n')
    )
    config = load_config(directory=repo)
    options = GateOptions(baseline="HEAD~1", candidate="HEAD")
    result = run_gate_on_cluster(
        config, repo, options, settings, backend="local-cloud", cache_dir=tmp_path / "wheels", boot_timeout=240
    )
    assert result.verdict.state in (State.PASS, State.INCONCLUSIVE, State.REGRESSION)
    assert result.verdict.rounds == 2 and result.verdict.metrics
    ran = built.read_text().split()  # once per side, on the target node, in its own checkouts
    assert len(ran) == 2 and ran[0].endswith("/src/baseline") and ran[1].endswith("/src/candidate"), ran
    store = open_store(config.store, config.root)
    rounds = store.rounds(result.run_id)
    assert len(rounds) == 2
    for record in rounds:
        assert record.health.cluster is not None
        assert record.health.cluster.workers == 2 and record.health.cluster.run_id.startswith("pg-")
        samples = store.samples(result.run_id, record.index)
        assert set(samples["side"]) == {"baseline", "candidate"}  # duet: both sides in every round
        assert samples["ok"].all() and len(samples) > 50
        assert len(store.resources(result.run_id, record.index)) > 0  # sampled on the target node
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}
    # the caller writes the report
    assert publish(result, config, ReportRequest(out_dir=tmp_path / "reports")).reports.html.exists()


@pytest.mark.e2e  # boots the local cloud; its target node fails its [target] setup
def test_a_setup_that_fails_on_a_node_is_one_line_and_tears_everything_down(
    moto_url: str, repo: Path, tmp_path: Path
) -> None:
    (repo / "perfgate.toml").write_text(CONFIG.replace("[target]\n", '[target]\nsetup = "echo no compiler; exit 7"\n'))
    settings = InfraSettings(bucket="pg-test", workers=1, owner="ci@test", max_duration_min=60)
    options = GateOptions(baseline="HEAD~1", candidate="HEAD")
    with pytest.raises(InfraError) as caught:
        run_gate_on_cluster(
            load_config(directory=repo),
            repo,
            options,
            settings,
            backend="local-cloud",
            cache_dir=tmp_path / "wheels",
            boot_timeout=240,
        )
    message = str(caught.value)
    assert message == "target-0: [target] setup 'echo no compiler; exit 7' of baseline exited with code 7: no compiler"
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}
    assert not node_processes(moto_url)


@pytest.mark.e2e  # boots the local cloud and signals the gate mid-round
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_run_tears_everything_down(sig: int, moto_url: str, repo: Path, tmp_path: Path) -> None:
    (repo / "perfgate.toml").write_text(CONFIG.replace("duration = 3", "duration = 60"))
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "gate_child.py"), str(repo), str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready "), line
        time.sleep(3.0)  # into the round: targets and Locust are up on the nodes
        assert count_left(moto_url)["instances"] == 4
        assert node_processes(moto_url)  # the leftover check below sees this cloud's nodes
        proc.send_signal(sig)
        assert proc.wait(120) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}
    assert not node_processes(moto_url)


def node_processes(moto_url: str) -> list[psutil.Process]:
    """Local-cloud node processes of this test's cloud (another xdist worker may be running its own)."""
    return live_processes(
        ("user-data.sh", "perfgate.cluster.agent", "dist_worker", "tinyserver.py"), "AWS_ENDPOINT_URL", moto_url
    )
