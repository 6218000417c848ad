"""loadtests/storm.py under Locust: plain `locust -f`, and the way perfgate runs it (a duet round)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from perfgate.faults.storm import storm_impact, storm_windows
from perfgate.load.runner import LoadSpec, LoadTarget, run_load
from perfgate.model import Side
from tests.storm.stormharness import REPO, ImServer, env

pytestmark = pytest.mark.e2e  # real Locust load and login storms on the real service

SMALL = {
    "PERFGATE_STORM_LOGINS": "200",
    "PERFGATE_STORM_CLIENTS": "2",
    "PERFGATE_STORM_AT": "2.5",
    "PERFGATE_STORM_TIMEOUT": "20",
}


def test_plain_locust_cli(im_server: Callable[[], ImServer], tmp_path: Path) -> None:
    server = im_server()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "loadtests/storm.py"),
            "--headless",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "7s",
            "--stop-timeout",  # the storm task finishes (bounded by its 20 s timeout): every login counts
            "40",
            "--host",
            server.url,
            "--json",  # the stats after every user stopped (the CSV is a snapshot taken while they run)
        ],
        cwd=tmp_path,
        env=env(**SMALL),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {(r["method"], r["name"]): r for r in json.loads(proc.stdout)}
    assert rows[("POST", "storm_login")]["num_requests"] == 400  # 2 clients x 200, once
    assert rows[("POST", "storm_login")]["num_failures"] == 0
    assert rows[("STORM", "storm_release")]["num_requests"] == 1
    assert rows[("STORM", "storm_connect")]["num_requests"] == 1
    assert rows[("WS", "deliver")]["num_requests"] > 0  # steady ChatUsers kept talking


@pytest.fixture
def small_storm(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)


def test_duet_round_as_perfgate_runs_it(im_server: Callable[[], ImServer], tmp_path: Path, small_storm: None) -> None:
    servers = {Side.BASELINE: im_server(), Side.CANDIDATE: im_server()}
    spec = LoadSpec(
        locustfile=str(REPO / "loadtests/storm.py"),
        user_classes=("ChatUser", "StormUser"),
        users=6,
        spawn_rate=6,
        warmup=0.5,
        duration=7.0,
        targets=tuple(LoadTarget(side, s.url) for side, s in servers.items()),
    )
    result = run_load(spec, tmp_path / "load")
    samples = result.samples.to_pandas()
    assert result.user_errors == 0, result.first_user_error
    for side, server in servers.items():
        mine = samples[samples["side"] == side.value]
        logins = mine[mine["name"] == "storm_login"]
        assert len(logins) == 400 and logins["ok"].all() and (logins["type"] == "POST").all()
        release = mine[mine["name"] == "storm_release"]
        assert len(release) == 1 and int(release["bytes"].iloc[0]) == 400
        spread_us = (logins["t_ns"].max() - logins["t_ns"].min()) / 1000
        assert release["latency_us"].iloc[0] == pytest.approx(spread_us, abs=1.0)
        assert release["t_ns"].iloc[0] == logins["t_ns"].min()
        assert server.metrics()["logins"] >= 400
    # one storm window per side, recovered from the samples alone
    windows = storm_windows(samples)
    assert sorted(w.side for w in windows) == ["baseline", "candidate"]
    for w in windows:
        assert w.detail.logins == 400 and w.detail.errors == 0
        assert w.detail.release_spread_ms < 1000
        assert result.started_ns < w.start_ns < w.end_ns <= result.ended_ns
        impact = storm_impact(samples, w.start_ns, w.end_ns, side=w.side)
        assert impact.before.deliveries > 0 and impact.after.deliveries > 0
        assert impact.before.error_rate == 0
