"""Faults on the c2s link: perfgate's fault proxy between XmppUsers and a real Prosody.

A stall of the link shows as a gap in deliveries and connects held until it ends; a reset
of every connection shows as failed steps and fresh sessions (reconnect, auth, bind) after it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfgate.faults import ProxyThread
from tests.xmpp.prosody_fixture import REPO, Prosody

pytestmark = pytest.mark.e2e  # real Locust load on a real Prosody, through the fault proxy

# Six XmppUsers for argv[3] seconds; prints [name, start_s, response_ms, error] per request event.
RUN = """
import json, sys
import gevent
from locust.env import Environment
from locust.util.load_locustfile import load_locustfile

classes, _ = load_locustfile(sys.argv[1])

class User(classes["XmppUser"]):
    host = sys.argv[2]

seen = []
env = Environment(user_classes=[User])
env.events.request.add_listener(
    lambda name, start_time, response_time, exception=None, **kw: seen.append(
        [name, start_time, response_time, None if exception is None else repr(exception)]))
runner = env.create_local_runner()
runner.start(6, spawn_rate=6)
gevent.spawn_later(float(sys.argv[3]), runner.quit)
runner.greenlet.join(timeout=60)
print(json.dumps(seen))
"""

STALL_AT, STALL_S, RESET_AT, RESET_S, RUN_S = 3.0, 3.0, 8.0, 1.0, 13.0


def test_a_stall_and_a_reset_of_the_c2s_link_are_seen(prosody: Prosody, tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(RUN)
    with ProxyThread() as proxies:
        link = proxies.create("c2s", upstream=f"127.0.0.1:{prosody.port}")
        load = subprocess.Popen(
            [sys.executable, str(script), str(REPO / "loadtests/xmpp.py"), f"xmpp://127.0.0.1:{link.listen_port}"]
            + [str(RUN_S)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            start = time.time()
            time.sleep(STALL_AT)
            stall = time.time()
            proxies.add_toxic("c2s", "stall", stream="downstream", attributes={"duration": int(STALL_S * 1000)})
            time.sleep(RESET_AT - STALL_AT)
            proxies.remove_toxic("c2s", "stall_downstream")
            reset = time.time()
            proxies.add_toxic("c2s", "reset_peer", attributes={"timeout": 0})
            time.sleep(RESET_S)
            proxies.remove_toxic("c2s", "reset_peer_downstream")
            out, err = load.communicate(timeout=90)
        finally:
            load.kill()
    assert load.returncode == 0, err[-3000:]
    events = json.loads(out.strip().splitlines()[-1])
    assert start < stall < reset
    arrivals = [s + ms / 1000 for name, s, ms, e in events if name == "deliver"]
    # The stall: nothing delivered in its middle, and sessions opened in it wait for the server's
    # stream features until it ends (a re-login closes its old stream, so what that one held is lost).
    assert not [t for t in arrivals if stall + 0.5 < t < stall + STALL_S - 0.5], "deliveries through a stalled link"
    held = [ms for name, s, ms, e in events if name == "connect" and stall <= s < stall + STALL_S - 1]
    assert held and max(held) > 1000, held
    # The reset: steps fail while it lasts, and every user opens a fresh session after it.
    failed = [name for name, s, ms, e in events if e is not None and reset - 0.5 <= s <= reset + RESET_S + 1]
    assert failed, "no step failed while the link reset every connection"
    after = [name for name, s, ms, e in events if e is None and s > reset + RESET_S]
    assert {"connect", "auth", "bind", "deliver"} <= set(after)
