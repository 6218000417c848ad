"""The IM service with redundant auth backends, all real processes on loopback: failover,
breakers, bounded retries, the all-down degraded mode, and the three broken-pool fixtures."""

from __future__ import annotations

import signal
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import websocket

from tests.loadtests.imharness import AuthStarter, ImServer, Proc, Starter, http, poll

LOGIN_TIMEOUT_S = 8.0


def login(server: ImServer, n: int, password: str | None = None, timeout: float = LOGIN_TIMEOUT_S) -> tuple[int, Any]:
    body = {"user": f"user{n:04d}", "password": password or f"pass{n:04d}"}
    return http("POST", f"{server.url}/login", body, timeout=timeout)


def timed_login(server: ImServer, n: int) -> tuple[int, Any, float]:
    t0 = time.monotonic()
    status, body = login(server, n)
    return status, body, time.monotonic() - t0


def send(server: ImServer, token: str, to: str = "user0002") -> int:
    return http("POST", f"{server.url}/messages", {"to": to, "body": "hi"}, token=token, timeout=5.0)[0]


def address(backend: Proc) -> str:
    return urlsplit(backend.url).netloc


def three_backends(start_auth: AuthStarter) -> list[Proc]:
    """Two SQLite backends and one in-memory one: two implementations, seeded alike."""
    return [start_auth("sqlite"), start_auth("memory"), start_auth("sqlite")]


def serve(start_server: Starter, backends: list[Proc], *extra: str) -> ImServer:
    return start_server("--auth-backends", ",".join(address(b) for b in backends), *extra)


def backend_states(server: ImServer) -> list[str]:
    return [b["state"] for b in server.metrics()["auth_backends"]]


def kill(backend: Proc) -> None:
    backend.proc.kill()
    backend.proc.wait()


def test_backends_hold_the_same_users_in_two_storages(start_auth: AuthStarter) -> None:
    good = {"user": "user0003", "password": "pass0003"}
    for backend in three_backends(start_auth):
        assert http("POST", f"{backend.url}/verify", good) == (200, {"ok": True})
        assert http("POST", f"{backend.url}/verify", {"user": "user0003", "password": "x"}) == (200, {"ok": False})
        assert http("POST", f"{backend.url}/verify", {"user": "nobody", "password": "x"}) == (200, {"ok": False})
        assert http("POST", f"{backend.url}/verify", {"user": 3})[0] == 400


def test_login_through_backends(start_server: Starter, start_auth: AuthStarter) -> None:
    backends = three_backends(start_auth)
    server = serve(start_server, backends)
    assert login(server, 1)[0] == 200
    assert login(server, 1, "wrong") == (401, {"error": "bad credentials"})
    metrics = server.metrics()
    assert metrics["auth_backends_up"] == 3 and metrics["auth_current"] == 0
    assert metrics["auth_backends"][0]["requests"] == 2 and metrics["auth_backends"][1]["requests"] == 0


def test_killed_backend_fails_over_and_its_breaker_opens(start_server: Starter, start_auth: AuthStarter) -> None:
    backends = three_backends(start_auth)
    server = serve(start_server, backends)
    kill(backends[0])
    assert [login(server, n)[0] for n in range(1, 6)] == [200] * 5
    assert poll(lambda: backend_states(server)[0] == "open", timeout_s=5.0)
    before = server.metrics()["auth_backends"][0]["requests"]
    assert [login(server, n)[0] for n in range(1, 6)] == [200] * 5
    metrics = server.metrics()
    assert metrics["auth_current"] == 1 and metrics["auth_failovers"] >= 1
    assert metrics["auth_backends"][0]["requests"] == before  # no traffic to the dead one while its breaker is open


def test_paused_backend_costs_at_most_one_timeout(start_server: Starter, start_auth: AuthStarter) -> None:
    backends = three_backends(start_auth)
    server = serve(start_server, backends, "--auth-timeout", "0.5")
    backends[0].proc.send_signal(signal.SIGSTOP)
    try:
        status, _, first = timed_login(server, 1)
        assert status == 200 and first < 3.0  # one attempt timeout (0.5 s), then the next backend
        assert poll(lambda: backend_states(server)[0] == "open", timeout_s=5.0)
        timings = [timed_login(server, n) for n in range(1, 6)]
        assert [t[0] for t in timings] == [200] * 5
        assert max(t[2] for t in timings) < 0.5  # the open breaker skips the paused backend
    finally:
        backends[0].proc.send_signal(signal.SIGCONT)


def test_all_down_degrades_and_recovers(start_server: Starter, start_auth: AuthStarter) -> None:
    backends = three_backends(start_auth)
    server = serve(start_server, backends)
    alice, bob = login(server, 1)[1]["token"], login(server, 2)[1]["token"]
    ws = websocket.create_connection(server.url.replace("http://", "ws://") + "/ws?token=" + bob, timeout=5.0)
    try:
        for backend in backends:
            kill(backend)
        assert poll(lambda: server.metrics()["auth_backends_up"] == 0, timeout_s=5.0)
        assert http("GET", f"{server.url}/healthz")[1]["auth"] == "degraded"
        status, body, took = timed_login(server, 3)
        assert status == 503 and body == {"error": "login unavailable: none of 3 auth backends answers"}
        assert took < 1.0  # every breaker is open: no retries, no waiting
        assert send(server, alice) == 200  # logged-in users keep chatting on their tokens
        while (frame := ws.recv()) and '"message"' not in frame:
            pass
        assert '"from": "user0001"' in frame
        revived = start_auth("memory", port=int(address(backends[1]).rsplit(":", 1)[1]))
        assert revived.proc.poll() is None
        assert poll(lambda: login(server, 3)[0] == 200, timeout_s=10.0)
        assert server.metrics()["auth_current"] == 1
    finally:
        ws.close()


def test_fixture_no_failover_stays_on_the_dead_backend(start_server: Starter, start_auth: AuthStarter) -> None:
    backends = three_backends(start_auth)
    server = serve(start_server, backends, "--auth-bug", "no-failover")
    assert login(server, 1)[0] == 200
    kill(backends[0])
    assert login(server, 1)[0] == 503  # two healthy backends, never asked
    assert [b["requests"] for b in server.metrics()["auth_backends"][1:]] == [0, 0]


def test_fixture_unbounded_retries_hangs_logins(start_server: Starter, start_auth: AuthStarter) -> None:
    backends = three_backends(start_auth)
    server = serve(start_server, backends, "--auth-bug", "unbounded-retries")
    assert login(server, 1)[0] == 200
    for backend in backends:
        kill(backend)
    with pytest.raises(TimeoutError):
        login(server, 1, timeout=4.0)  # the good pool answers 503 within its 2 s budget


def test_fixture_logout_all_rejects_tokens_while_all_down(start_server: Starter, start_auth: AuthStarter) -> None:
    backends = three_backends(start_auth)
    server = serve(start_server, backends, "--auth-bug", "logout-all")
    alice = login(server, 1)[1]["token"]
    assert send(server, alice) == 200
    for backend in backends:
        kill(backend)
    assert poll(lambda: send(server, alice) == 401, timeout_s=5.0)
    status, _, took = timed_login(server, 3)
    assert status == 503 and took < 1.0  # otherwise the pool is the correct one: only the tokens differ


def test_auth_bug_needs_backends(start_server: Starter) -> None:
    with pytest.raises(RuntimeError, match="--auth-bug needs --auth-backends"):
        start_server("--auth-bug", "logout-all")
