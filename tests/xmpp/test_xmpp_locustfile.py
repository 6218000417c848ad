"""loadtests/xmpp.py against a real Prosody: plain ``locust -f``, and as perfgate runs a side.

Locust monkey-patches whatever process imports it, so it only ever runs in a subprocess here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.xmpp.prosody_fixture import REPO, Prosody

pytestmark = pytest.mark.e2e  # real Locust load on a real Prosody

LOCUST_TIMEOUT_S = 90
STEPS = ("connect", "auth", "bind", "roster", "presence", "send", "deliver")

# XmppUser the way perfgate runs it: a subclass per side with its own host and context();
# argv[4], when given, is a wrong password for every user. Prints what every request event carried.
LIBRARY_RUN = """
import json, sys
import gevent
from locust.env import Environment
from locust.util.load_locustfile import load_locustfile

classes, _ = load_locustfile(sys.argv[1])

class SideA(classes["XmppUser"]):
    host = sys.argv[2]
    if len(sys.argv) > 4:
        perfgate_account = {"username": "user0001", "password": sys.argv[4]}
    def context(self):
        return {**super().context(), "side": "A"}

seen = []
env = Environment(user_classes=[SideA])
env.events.request.add_listener(
    lambda request_type, name, context=None, exception=None, **kw: seen.append(
        [request_type, name, context, None if exception is None else str(exception)]))
runner = env.create_local_runner()
runner.start(4, spawn_rate=4)
gevent.spawn_later(float(sys.argv[3]), runner.quit)
runner.greenlet.join(timeout=60)
print(json.dumps(seen))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_headless_cli_run_reports_every_step(prosody: Prosody, tmp_path: Path) -> None:
    command = ["-f", str(REPO / "loadtests/xmpp.py"), "--headless", "-u", "8", "-r", "8", "-t", "6s"]
    proc = subprocess.run(
        [sys.executable, "-m", "locust", *command, "--host", prosody.url, "--json", "--only-summary"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=LOCUST_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # --json: the final stats, after every user stopped (the CSV is a snapshot taken while they run)
    rows = {r["name"]: r for r in json.loads(proc.stdout) if r["method"] == "XMPP"}
    counts = {name: int(rows[name]["num_requests"]) for name in STEPS}
    assert all(counts[name] > 0 for name in STEPS), counts
    assert all(int(r["num_failures"]) == 0 for r in rows.values()), rows
    # Each session steps connect -> auth -> bind -> roster. The run's time limit stops each user
    # wherever it is, so it may cut one session per user short (CI runs saw 88 against 87).
    chain = [counts[name] for name in ("connect", "auth", "bind", "roster")]
    assert chain[0] >= 8 and max(chain) - min(chain) <= 8, counts
    # Most chat messages reach an online contact (a few meet one that is logging in again).
    assert counts["deliver"] > counts["send"] // 2, counts


def run_side_a(tmp_path: Path, url: str, *extra: str) -> list[list[Any]]:
    script = tmp_path / "run_side.py"
    script.write_text(LIBRARY_RUN)
    proc = subprocess.run(
        [sys.executable, str(script), str(REPO / "loadtests/xmpp.py"), url, "4", *extra],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=LOCUST_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_subclass_context_tags_every_event(prosody: Prosody, tmp_path: Path) -> None:
    events = run_side_a(tmp_path, f"http://127.0.0.1:{prosody.port}")  # as perfgate passes a target's address
    assert {name for _, name, *_ in events} == set(STEPS)
    assert all(kind == "XMPP" and ctx == {"side": "A"} and error is None for kind, _, ctx, error in events), events


def test_a_wrong_password_is_an_auth_failure_named_by_its_condition(prosody: Prosody, tmp_path: Path) -> None:
    events = run_side_a(tmp_path, prosody.url, "not-the-password")
    auth = [error for _, name, _, error in events if name == "auth"]
    assert auth and all(error == "not-authorized" for error in auth), auth
    assert not {"bind", "roster", "send", "deliver"} & {name for _, name, *_ in events}
