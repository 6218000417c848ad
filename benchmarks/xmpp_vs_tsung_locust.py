"""The perfgate side of benchmarks/xmpp_vs_tsung.py: the generator process, alone.

    PYTHONPATH=. python benchmarks/xmpp_vs_tsung_locust.py EVENTS_JSON xmpp://127.0.0.1:PORT CHATTERS SECONDS

From a perfgate checkout (``loadtests/`` holds the reference scenarios). Runs
``XmppStormUser`` (``PERFGATE_STORM_LOGINS`` and ``PERFGATE_STORM_AT`` from the environment)
and CHATTERS ``XmppUser``s through Locust's library API for SECONDS, then writes every request
event as ``[type, name, start_time, response_time_ms, ok]`` to EVENTS_JSON.
A file of its own so that Locust (gevent) patches the standard library before anything else loads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import gevent
import locust  # noqa: F401  (before the XMPP client: gevent patches the standard library)
from locust.env import Environment

from loadtests.xmppstorm import XmppStormUser, XmppUser


def main() -> None:
    out, host, chatters, seconds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    events: list[tuple[str, str, float, float, bool]] = []

    def on_request(request_type: str, name: str, start_time: float, response_time: float, exception: Any, **_: Any):
        events.append((request_type, name, start_time, response_time, exception is None))

    env = Environment(user_classes=[XmppUser, XmppStormUser], host=host)
    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    runner.start(chatters + 1, spawn_rate=chatters + 1)
    gevent.spawn_later(seconds, runner.quit)
    runner.greenlet.join()
    out.write_text(json.dumps(events))


if __name__ == "__main__":
    main()
