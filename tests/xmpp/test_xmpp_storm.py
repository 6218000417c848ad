"""loadtests/xmppstorm.py against a real Prosody: a SASL login storm beside chatting users."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from perfgate.load.runner import LoadSpec, LoadTarget, run_load
from perfgate.model import Side
from tests.xmpp.prosody_fixture import REPO, Prosody

pytestmark = pytest.mark.e2e  # real Locust load on a real Prosody


def storm(prosody: Prosody, tmp_path: Path, logins: int, **env: str) -> tuple[dict, list[dict]]:
    """Run the storm locustfile for 8 s; returns (stats rows by name, failure rows).

    At 8 s each user may finish its task: the storm's (bounded by its own 30 s timeout) counts
    every login however slow the machine is (a CI run that cut it at 8 s counted 990 of 1,000).
    """
    prefix = tmp_path / f"storm{logins}"
    command = ["-f", str(REPO / "loadtests/xmppstorm.py"), "--headless", "-u", "5", "-r", "5", "-t", "8s"]
    command += ["--stop-timeout", "45"]
    proc = subprocess.run(
        [sys.executable, "-m", "locust", *command, "--host", prosody.url, "--csv", str(prefix), "--only-summary"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "PERFGATE_STORM_LOGINS": str(logins), "PERFGATE_STORM_AT": "2"}
        | {"PERFGATE_XMPP_USERS": "40", **env},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: some requests failed
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    with open(f"{prefix}_failures.csv", newline="") as f:
        return rows, list(csv.DictReader(f))


def test_every_storm_login_is_answered_while_users_chat(prosody: Prosody, tmp_path: Path) -> None:
    rows, failures = storm(prosody, tmp_path, 1000)
    assert int(rows["storm_login"]["Request Count"]) == 1000
    assert int(rows["storm_login"]["Failure Count"]) == 0, failures
    assert int(rows["storm_release"]["Request Count"]) == 1 and int(rows["storm_connect"]["Request Count"]) == 1
    assert int(rows["deliver"]["Request Count"]) > 0  # the steady users kept chatting


def test_failed_storm_logins_are_counted_by_class(prosody: Prosody, tmp_path: Path) -> None:
    # The storm logs in as the last of 400 accounts; Prosody has 40: every login is refused.
    rows, failures = storm(prosody, tmp_path, 200, PERFGATE_XMPP_USERS="400")
    assert int(rows["storm_login"]["Failure Count"]) == 200
    by_class = {(f["Name"], f["Error"]): int(f["Occurrences"]) for f in failures}
    assert by_class[("storm_login", "XmppError('not-authorized')")] == 200, by_class


def test_a_storm_cut_by_the_end_of_its_round_counts_every_login_as_failed(prosody: Prosody, tmp_path: Path) -> None:
    """perfgate ends a round by stopping its users at once: a storm still waiting for its answers
    reports every login as failed, never as a login that was not there (the slowest would go
    missing from the figures). Its release is due at 30 s, after the 4 s round."""
    spec = LoadSpec(
        locustfile=str(REPO / "loadtests/xmppstorm.py"),
        user_classes=("XmppUser", "XmppStormUser"),
        users=3,
        spawn_rate=3,
        warmup=0.5,
        duration=4.0,
        targets=(LoadTarget(Side.BASELINE, prosody.url),),
        env={"PERFGATE_STORM_LOGINS": "200", "PERFGATE_STORM_AT": "30", "PERFGATE_XMPP_USERS": "40"},
    )
    samples = run_load(spec, tmp_path / "load").samples.to_pandas()
    logins = samples[samples["name"] == "storm_login"]
    assert len(logins) == 200 and not logins["ok"].any(), logins["error"].value_counts()
    assert (logins["error"].str.contains("storm stopped before the answer")).all()
