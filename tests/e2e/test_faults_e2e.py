"""A gate whose rounds run under a fault schedule, a login storm and a chaos kill, from config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfgate.commands.demo import build_demo_repo
from perfgate.store import LocalStore
from tests.support import assert_nothing_left, run_cli

pytestmark = pytest.mark.e2e

CONFIG = """
[load]
users = 4
spawn_rate = 4
warmup = 1
duration = 8

[rounds]
design = "duet"
count = 2
max = 2

[scenarios.storm]
locustfile = "loadtests/storm.py"
user_classes = ["ChatUser", "StormUser"]

[scenarios.storm.storm]
logins = 100
clients = 2
at = 2
timeout = 5

[[scenarios.storm.faults]]
at = 1
for = 2
link = "target"
toxic = "latency"
latency = 150

[[scenarios.storm.faults]]
at = 5
for = 1.5
link = "target"
toxic = "stall"
duration = 1000

[scenarios.chaos]
locustfile = "loadtests/im.py"
user_classes = ["ChatUser"]

[[scenarios.chaos.chaos]]
at = 3
action = "kill"
for = 1
"""


def test_faults_storm_and_chaos_compose(tmp_path):
    repo_dir = tmp_path / "repo"
    repo_dir.mkdir()
    build_demo_repo(repo_dir)
    (repo_dir / "faults.toml").write_text(CONFIG)
    out = tmp_path / "verdict.json"
    result = run_cli(
        "run",
        "--config",
        "faults.toml",
        "--baseline",
        "HEAD~1",
        "--candidate",
        "HEAD",
        "--json",
        str(out),
        cwd=repo_dir,
    )
    assert result.returncode in (0, 1, 2), result.stdout + result.stderr
    verdict = json.loads(out.read_text())
    store = LocalStore(repo_dir / ".perfgate")
    rounds = store.rounds(verdict["run_id"])
    storm_rounds = [r for r in rounds if r.scenario == "storm"]
    chaos_rounds = [r for r in rounds if r.scenario == "chaos"]
    assert len(storm_rounds) == 2 and len(chaos_rounds) == 2

    for record in storm_rounds:
        faults = [w for w in record.windows if w.kind == "fault"]
        assert sorted(w.label for w in faults if w.side == "baseline") == sorted(
            w.label for w in faults if w.side == "candidate"
        )
        assert len(faults) == 4  # two toxics on each side's proxy
        for window in faults:
            onset_s = (window.start_ns - window.detail.planned_start_ns) / 1e9
            assert abs(onset_s) < 0.5 and window.end_ns > window.start_ns
        storms = [w for w in record.windows if w.kind == "storm"]
        assert {w.side for w in storms} == {"baseline", "candidate"}
        samples = store.samples(record.run_id, record.index)
        logins = samples[samples["name"] == "storm_login"]
        assert len(logins) == 2 * 2 * 100  # two clients on each side
        stalled = samples[(samples["t_ns"] >= faults[0].start_ns) & (samples["name"] == "send")]
        assert len(stalled) > 0

    for record in chaos_rounds:
        kills = [w for w in record.windows if w.kind == "chaos"]
        assert len(kills) == 2  # one per side
        for window in kills:
            assert window.detail.detect_ms is not None
            assert window.detail.recover_ms is not None
            assert window.detail.steady_after

    html = Path(verdict["report"]).read_text()
    assert "stall" in html and "kill target" in html
    assert_nothing_left(repo_dir)
