"""The storm engine (loadtests.storm.run_storm) on real sockets, in subprocesses."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from tests.storm.stormharness import ImServer, free_port, run_python

# Runs one storm and prints its summary and every login as JSON.
STORM = """
import json, sys, time
from perfgate.reference.storm import StormPlan, run_storm
port, logins, clients, max_conns, timeout = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                             int(sys.argv[4]), float(sys.argv[5]))
seen = []
plan = StormPlan("127.0.0.1", port, logins, clients, release_at=time.time() + 0.3, timeout_s=timeout,
                 connect_timeout_s=2.0)
s = run_storm(plan, lambda l: seen.append([l.client, l.sent_ns, l.done_ns, l.status, l.length,
                                          None if l.error is None else type(l.error).__name__]), max_conns)
print(json.dumps({"summary": {**s.__dict__, "spread_ms": s.spread_ms}, "logins": seen,
                  "release_at_ns": int(plan.release_at * 1e9)}))
"""


def storm(port: int, logins: int, clients: int = 1, max_conns: int = 0, timeout: float = 20.0) -> dict:
    return run_python(STORM, str(port), str(logins), str(clients), str(max_conns), str(timeout))


@pytest.mark.e2e  # a real login storm on the real service
def test_every_login_is_sent_at_the_release_and_answered(im_server: Callable[[], ImServer]) -> None:
    server = im_server()
    before = server.metrics()["logins"]
    out = storm(server.port, 300, clients=2)
    s, logins = out["summary"], out["logins"]
    assert s["planned"] == s["sent"] == s["ok"] == 600 and s["failed"] == 0
    assert s["connections"] == s["connected"] == 600  # one connection per login
    assert len(logins) == 600 and {c for c, *_ in logins} == {0, 1}
    assert all(status == 200 and length > 0 and err is None for _, _, _, status, length, err in logins)
    sends = [sent for _, sent, *_ in logins]
    # nothing is sent before the barrier opens, and the spread is first to last send
    assert min(sends) == s["first_send_ns"] >= s["release_ns"] >= out["release_at_ns"]
    assert max(sends) == s["last_send_ns"]
    assert s["spread_ms"] == (s["last_send_ns"] - s["first_send_ns"]) / 1e6
    assert s["connect_end_ns"] <= s["release_ns"]
    assert all(done >= sent for _, sent, done, *_ in logins)
    assert s["last_answer_ns"] == max(done for _, _, done, *_ in logins)
    assert server.metrics()["logins"] - before == 600


@pytest.mark.e2e  # a real login storm on the real service
def test_past_the_connection_budget_logins_are_pipelined(im_server: Callable[[], ImServer]) -> None:
    server = im_server()
    out = storm(server.port, 205, max_conns=20)
    s = out["summary"]
    assert s["connections"] == s["connected"] == 20
    assert s["sent"] == s["ok"] == 205 and s["failed"] == 0
    # logins sharing a connection share its send time
    assert len({sent for _, sent, *_ in out["logins"]}) == 20


def test_refused_connections_are_failed_logins() -> None:
    out = storm(free_port(), 50)
    s = out["summary"]
    assert s["connected"] == 0 and s["sent"] == 0 and s["failed"] == 50
    assert {err for *_, err in out["logins"]} == {"ConnectionRefusedError"}
    assert all(sent is None for _, sent, *_ in out["logins"])


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts nothing, answers nothing: connections wait in its backlog
        silent.bind(("127.0.0.1", 0))
        silent.listen(128)
        out = storm(silent.getsockname()[1], 20, timeout=1.0)
    s = out["summary"]
    assert s["connected"] == s["sent"] == 20 and s["ok"] == 0 and s["failed"] == 20
    assert {err for *_, err in out["logins"]} == {"TimeoutError"}


HELPERS = """
import json, io
from perfgate.reference.storm import split_logins, read_response, login_request

class Sock:
    def __init__(self, data, step):
        self.data, self.step = data, step
    def recv(self, n):
        chunk, self.data = self.data[:min(n, self.step)], self.data[min(n, self.step):]
        return chunk

two = (b"HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\n\\r\\nhello"
       b"HTTP/1.1 401 Unauthorized\\r\\ncontent-length: 2\\r\\nConnection: close\\r\\n\\r\\nno")
sock = Sock(two, 7)
first = read_response(sock)
second = read_response(sock, first[2])
closed = read_response(Sock(b"HTTP/1.0 200 OK\\r\\n\\r\\nuntil close", 4))
try:
    read_response(Sock(b"HTTP/1.1 200 OK\\r\\nContent-Length: 9\\r\\n\\r\\nshort", 100))
    cut = None
except Exception as exc:
    cut = type(exc).__name__
print(json.dumps({"split": [split_logins(10, 3), split_logins(5, 10), split_logins(7, 7)],
                  "first": first[:2], "second": second[:2], "closed": closed[:2], "cut": cut,
                  "request": login_request("127.0.0.1", 8080, 7, close=False).decode()}))
"""


def test_helpers() -> None:
    out = run_python(HELPERS)
    assert out["split"] == [[4, 3, 3], [1, 1, 1, 1, 1], [1] * 7]
    assert out["first"] == [200, 5] and out["second"] == [401, 2]
    assert out["closed"] == [200, len("until close")]
    assert out["cut"] == "StormError"
    head, _, body = out["request"].partition("\r\n\r\n")
    assert head.startswith("POST /login HTTP/1.1\r\nHost: 127.0.0.1:8080")
    assert "Connection: keep-alive" in head and f"Content-Length: {len(body)}" in head
    assert body == '{"user": "user0007", "password": "pass0007"}'
