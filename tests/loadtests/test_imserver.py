"""The reference IM service, run as a real process and driven over loopback."""

from __future__ import annotations

import json
import re
import struct
from typing import Any

import websocket

from tests.loadtests.imharness import REPO, ImServer, PeerStarter, Starter, http, poll

WS_TIMEOUT_S = 5.0


def connect(server: ImServer, token: str) -> websocket.WebSocket:
    return websocket.create_connection(server.ws_base + token, timeout=WS_TIMEOUT_S)


def recv_until(ws: websocket.WebSocket, kind: str, limit: int = 50) -> dict[str, Any]:
    """The next frame of type ``kind``, skipping at most ``limit`` others."""
    for _ in range(limit):
        frame = json.loads(ws.recv())
        if frame["type"] == kind:
            return dict(frame)
    raise AssertionError(f"no {kind!r} frame within {limit} frames")


def send(server: ImServer, token: str, to: str, body: str = "hi", sent_ns: int = 1) -> tuple[int, Any]:
    return http("POST", f"{server.url}/messages", {"to": to, "body": body, "client_sent_ns": sent_ns}, token=token)


def test_scrypt_work_factor_is_one_editable_line() -> None:
    # perfgate's demo makes its regression commit by editing exactly this line.
    text = (REPO / "loadtests/imserver/auth.py").read_text()
    assert len(re.findall(r"^SCRYPT_LOG2N = \d+$", text, re.MULTILINE)) == 1


def test_login(start_server: Starter) -> None:
    server = start_server()
    status, body = http("POST", f"{server.url}/login", {"user": "user0007", "password": "pass0007"})
    assert status == 200 and body["user"] == "user0007" and body["token"]
    assert http("POST", f"{server.url}/login", {"user": "user0007", "password": "pass0008"})[0] == 401
    assert http("POST", f"{server.url}/login", {"user": "nobody", "password": "pass0007"})[0] == 401
    assert http("POST", f"{server.url}/login", {"user": 7})[0] == 400
    # only seeded accounts exist (--users 20)
    assert http("POST", f"{server.url}/login", {"user": "user0020", "password": "pass0020"})[0] == 401


def test_roster_and_presence(start_server: Starter) -> None:
    server = start_server()
    alice = connect(server, server.login(1))
    try:
        assert recv_until(alice, "roster")["online"] == []
        bob = connect(server, server.login(2))
        assert recv_until(bob, "roster")["online"] == ["user0001"]
        assert recv_until(alice, "presence") == {"type": "presence", "user": "user0002", "status": "online"}
        bob.send(json.dumps({"type": "presence", "status": "away"}))
        assert recv_until(alice, "presence")["status"] == "away"
        bob.close()
        assert recv_until(alice, "presence") == {"type": "presence", "user": "user0002", "status": "offline"}
    finally:
        alice.close()


def test_ws_requires_valid_token(start_server: Starter) -> None:
    server = start_server()
    try:
        connect(server, "user0001.9999999999.forged")
    except websocket.WebSocketBadStatusException as err:
        assert err.status_code == 401
    else:
        raise AssertionError("a forged token was accepted")


def test_message_is_delivered_with_client_timestamp(start_server: Starter) -> None:
    server = start_server()
    alice, bob_token = server.login(1), server.login(2)
    bob = connect(server, bob_token)
    try:
        recv_until(bob, "roster")
        status, body = send(server, alice, "user0002", "hello bob", 123456789)
        assert status == 200 and body["status"] == "delivered"
        msg = recv_until(bob, "message")
        assert msg == {
            "type": "message",
            "id": body["id"],
            "from": "user0001",
            "to": "user0002",
            "body": "hello bob",
            "client_sent_ns": 123456789,
        }
    finally:
        bob.close()
    assert poll(lambda: server.metrics()["connections"] == 0)
    assert send(server, alice, "user0002")[1]["status"] == "stored"  # offline: stored only


def test_send_rejects_bad_requests(start_server: Starter) -> None:
    server = start_server()
    token = server.login(1)
    assert send(server, "", "user0002")[0] == 401
    assert send(server, "user0001.1.bad", "user0002")[0] == 401
    assert send(server, token, "nobody")[0] == 404
    assert http("POST", f"{server.url}/messages", {"to": "user0002"}, token=token)[0] == 400
    assert (
        http("POST", f"{server.url}/messages", {"to": "user0002", "body": "x", "client_sent_ns": "soon"}, token=token)[
            0
        ]
        == 400
    )
    assert send(server, token, "ext:x")[0] == 503  # no gateway configured


def test_history_and_online(start_server: Starter) -> None:
    server = start_server()
    alice, bob = server.login(1), server.login(2)
    for i in range(5):
        send(server, alice if i % 2 == 0 else bob, "user0002" if i % 2 == 0 else "user0001", f"m{i}")
    send(server, alice, "user0003", "elsewhere")
    status, body = http("GET", f"{server.url}/history?with=user0002&limit=3", token=alice)
    assert status == 200 and [m["body"] for m in body["messages"]] == ["m2", "m3", "m4"]
    status, body = http("GET", f"{server.url}/history?with=user0001", token=bob)
    assert [m["body"] for m in body["messages"]] == ["m0", "m1", "m2", "m3", "m4"]
    assert http("GET", f"{server.url}/history?with=user0002&limit=0", token=alice)[0] == 400
    assert http("GET", f"{server.url}/history?with=user0002")[0] == 401

    ws = connect(server, bob)
    try:
        recv_until(ws, "roster")
        assert http("GET", f"{server.url}/users/online", token=alice) == (200, {"online": ["user0002"]})
    finally:
        ws.close()


def test_metrics(start_server: Starter) -> None:
    server = start_server()
    token = server.login(1)
    ws = connect(server, server.login(2))
    try:
        recv_until(ws, "roster")
        send(server, token, "user0002")
        m = server.metrics()
        assert m["connections"] == 1 and m["delivered"] == 1 and m["messages"] == 1
        assert m["logins"] == 2 and m["queue_depth"] == 0 and m["gateway_dropped"] == 0
        assert m["mode"] == "read-write" and m["rss_bytes"] > 1 << 20 and m["uptime_s"] > 0
        assert m["mode_changes"] == 0 and m["last_mode_change_ns"] == 0  # SQLite never degrades
    finally:
        ws.close()


def test_sigterm_closes_sessions_and_exits_zero(start_server: Starter) -> None:
    server = start_server()
    ws = connect(server, server.login(1))
    recv_until(ws, "roster")
    assert server.terminate() == 0
    opcode, data = ws.recv_data(control_frame=True)  # sent before the process exited
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", data[:2])[0] == 1001  # going away


def test_restart_keeps_messages_users_and_tokens(start_server: Starter) -> None:
    first = start_server()
    token = first.login(1)
    send(first, token, "user0002", "before restart")
    assert first.terminate() == 0
    second = start_server(data=first.data)
    assert "seeded 0 of 20 users" in second.log.read_text()  # same work factor: nothing to redo
    status, body = http("GET", f"{second.url}/history?with=user0002", token=token)
    assert status == 200 and [m["body"] for m in body["messages"]] == ["before restart"]
    assert second.metrics()["messages"] == 1


def test_slow_gateway_makes_queue_grow(start_server: Starter, start_peer: PeerStarter) -> None:
    peer = start_peer(delay_ms=10_000)
    server = start_server("--gateway", peer.url.removeprefix("http://"))
    token = server.login(1)
    statuses = [send(server, token, "ext:friend", f"m{i}")[1]["status"] for i in range(30)]
    assert statuses == ["queued"] * 30
    # one message at a time is in flight to the peer; the rest wait in RAM
    assert server.metrics()["queue_depth"] >= 28


def test_fast_gateway_drains_queue(start_server: Starter, start_peer: PeerStarter) -> None:
    peer = start_peer(delay_ms=0)
    server = start_server("--gateway", peer.url.removeprefix("http://"))
    token = server.login(1)
    for i in range(10):
        assert send(server, token, "ext:friend", f"m{i}")[0] == 200
    assert poll(lambda: server.metrics()["gateway_forwarded"] == 10)
    assert server.metrics()["queue_depth"] == 0
    assert http("GET", f"{peer.url}/stats")[1] == {"received": 10}


def test_bounded_gateway_answers_503(start_server: Starter, start_peer: PeerStarter) -> None:
    peer = start_peer(delay_ms=10_000)
    server = start_server("--gateway", peer.url.removeprefix("http://"), "--gateway-queue-limit", "3")
    token = server.login(1)
    results = [send(server, token, "ext:friend", f"m{i}") for i in range(10)]
    accepted = [body for status, body in results if status == 200]
    refused = [body for status, body in results if status == 503]
    assert 3 <= len(accepted) <= 4  # the queue's 3, plus at most one already in flight
    assert len(accepted) + len(refused) == 10
    assert refused[0] == {"error": "gateway backpressure"}
    m = server.metrics()
    assert m["queue_depth"] <= 3 and m["gateway_dropped"] == len(refused)
