"""loadtests/xmppstorm.py against a real Prosody: a SASL login storm beside chatting users."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from perfgate.load.runner import LoadSpec, LoadTarget, run_load
from perfgate.model import Side
from tests.xmpp.prosody_fixture import REPO, Prosody

pytestmark = pytest.mark.e2e  # real Locust load on a real Prosody


def storm_cli(prosody: Prosody, tmp_path: Path, logins: int) -> dict[str, dict[str, Any]]:
    """Plain ``locust -f loadtests/xmppstorm.py`` for 8 s, the storm at 2 s; its final stats by name.

    At 8 s each user may finish its task: the storm's (bounded by its own 30 s timeout) counts
    every login however slow the machine is (a CI run that cut it at 8 s counted 990 of 1,000).
    ``--json`` prints the stats after every user stopped (the CSV is a snapshot taken while they run).
    """
    command = ["-f", str(REPO / "loadtests/xmppstorm.py"), "--headless", "-u", "5", "-r", "5", "-t", "8s"]
    proc = subprocess.run(
        [sys.executable, "-m", "locust", *command, "--stop-timeout", "45", "--host", prosody.url, "--json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "PERFGATE_STORM_LOGINS": str(logins), "PERFGATE_STORM_AT": "2"}
        | {"PERFGATE_XMPP_USERS": "40"},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: some requests failed
    return {row["name"]: row for row in json.loads(proc.stdout)}


def storm_round(prosody: Prosody, tmp_path: Path, logins: int, duration: float, **env: str) -> pd.DataFrame:
    """The storm as perfgate runs it, in one side's round: the storm_login samples."""
    spec = LoadSpec(
        locustfile=str(REPO / "loadtests/xmppstorm.py"),
        user_classes=("XmppUser", "XmppStormUser"),
        users=3,
        spawn_rate=3,
        warmup=0.5,
        duration=duration,
        targets=(LoadTarget(Side.BASELINE, prosody.url),),
        env={"PERFGATE_STORM_LOGINS": str(logins), "PERFGATE_XMPP_USERS": "40", **env},
    )
    samples = run_load(spec, tmp_path / "load").samples.to_pandas()
    return samples[samples["name"] == "storm_login"]


def test_every_storm_login_is_answered_while_users_chat(prosody: Prosody, tmp_path: Path) -> None:
    rows = storm_cli(prosody, tmp_path, 1000)
    assert rows["storm_login"]["num_requests"] == 1000
    assert rows["storm_login"]["num_failures"] == 0, rows["storm_login"]
    assert rows["storm_release"]["num_requests"] == 1 and rows["storm_connect"]["num_requests"] == 1
    assert rows["deliver"]["num_requests"] > 0  # the steady users kept chatting


def test_failed_storm_logins_are_counted_by_class(prosody: Prosody, tmp_path: Path) -> None:
    # The storm logs in as the last of 400 accounts; Prosody has 40: every login is refused.
    logins = storm_round(prosody, tmp_path, 200, 8.0, PERFGATE_STORM_AT="2", PERFGATE_XMPP_USERS="400")
    assert len(logins) == 200 and not logins["ok"].any()
    assert logins["error"].str.contains("not-authorized").all(), logins["error"].value_counts()


def test_a_storm_cut_by_the_end_of_its_round_counts_every_login_as_failed(prosody: Prosody, tmp_path: Path) -> None:
    """perfgate ends a round by stopping its users at once: a storm still waiting for its answers
    reports every login as failed, never as a login that was not there (the slowest would go
    missing from the figures). Its release is due at 30 s, after the 4 s round."""
    logins = storm_round(prosody, tmp_path, 200, 4.0, PERFGATE_STORM_AT="30")
    assert len(logins) == 200 and not logins["ok"].any(), logins["error"].value_counts()
    assert logins["error"].str.contains("storm stopped before the answer").all()
