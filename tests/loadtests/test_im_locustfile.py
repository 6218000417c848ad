"""The Locust scenarios in loadtests/im.py, run for real against the real service.

Locust monkey-patches whatever process imports it, so it only ever runs in a
subprocess here, never inside pytest.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.loadtests.imharness import REPO, PeerStarter, Starter, poll

pytestmark = pytest.mark.e2e  # real Locust load on the real service

LOCUST_TIMEOUT_S = 90

# Runs ChatUser the way perfgate does: a subclass per side, with its own host
# and a context() that tags each request. Prints what every request event carried.
LIBRARY_RUN = """
import json, sys
import gevent
from locust.env import Environment
from locust.util.load_locustfile import load_locustfile

classes, _ = load_locustfile(sys.argv[1])
base = classes["ChatUser"]

class SideA(base):
    host = sys.argv[2]
    ext_share = float(sys.argv[4])
    def context(self):
        return {**super().context(), "side": "A"}

seen = []
env = Environment(user_classes=[SideA])
env.events.request.add_listener(
    lambda request_type, name, context=None, exception=None, start_time=None, **kw: seen.append(
        [request_type, name, context, exception is None, start_time is not None]))
runner = env.create_local_runner()
runner.start(4, spawn_rate=4)
gevent.spawn_later(float(sys.argv[3]), runner.quit)
runner.greenlet.join(timeout=60)
print(json.dumps(seen))
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def test_headless_cli_run(start_server: Starter, tmp_path: Path) -> None:
    server = start_server(users=200)
    prefix = tmp_path / "im"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "loadtests/im.py"),
            "--headless",
            "-u",
            "6",
            "-r",
            "6",
            "-t",
            "6s",
            "--host",
            server.url,
            "--csv",
            str(prefix),
            "--only-summary",
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=LOCUST_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}
    for key in [("POST", "login"), ("POST", "send"), ("WS", "deliver"), ("WS", "ws_connect")]:
        assert int(rows[key]["Request Count"]) > 0, key
    assert all(int(r["Failure Count"]) == 0 for r in rows.values()), rows
    assert int(rows[("WS", "ws_connect")]["Request Count"]) == 6
    # every user closed its WebSocket on the way out
    assert poll(lambda: server.metrics()["connections"] == 0)


def run_side_a(tmp_path: Path, url: str, ext_share: float = 0.0, **env: str) -> list[list[Any]]:
    """Run LIBRARY_RUN for 4 seconds; returns the request events it saw."""
    script = tmp_path / "run_side.py"
    script.write_text(LIBRARY_RUN)
    proc = subprocess.run(
        [sys.executable, str(script), str(REPO / "loadtests/im.py"), url, "4", str(ext_share)],
        cwd=tmp_path,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=LOCUST_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_subclass_context_tags_every_event(start_server: Starter, tmp_path: Path) -> None:
    # 3 seeded accounts for 4 users: the account counter wraps around.
    server = start_server(users=3)
    events = run_side_a(tmp_path, server.url, PERFGATE_IM_USERS="3")
    names = {(kind, name) for kind, name, *_ in events}
    assert {("POST", "login"), ("POST", "send"), ("WS", "deliver"), ("WS", "ws_connect")} <= names
    assert all(ctx == {"side": "A"} for _, _, ctx, _, _ in events)
    assert all(ok and has_start for *_, ok, has_start in events)
    assert poll(lambda: server.metrics()["connections"] == 0)


def test_ext_share_piles_up_the_gateway_queue(start_server: Starter, start_peer: PeerStarter, tmp_path: Path) -> None:
    peer = start_peer(10_000)
    server = start_server("--gateway", peer.url.removeprefix("http://"))
    events = run_side_a(tmp_path, server.url, ext_share=0.5)
    ext = [ok for _, name, _, ok, _ in events if name == "send_ext"]
    assert ext and all(ext)
    assert server.metrics()["queue_depth"] >= len(ext) - 1  # one in flight to the slow peer
