"""The IM service on a real MariaDB primary and replica: read-only degradation and its bugs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import websocket

from perfgate.deps.mariadb import MariaDbPair
from perfgate.deps.reconcile import AckKey, query_stored_keys, read_ack_log, reconcile
from perfgate.reference.imserver.__main__ import make_storage, parse_args
from perfgate.reference.imserver.storage_mariadb import MariaDbStorage
from tests.loadtests.imharness import REPO, ImServer, Starter, http, poll

READ_ONLY = (503, {"error": "read-only: primary unavailable"})


def send(
    server: ImServer, token: str, to: str = "user0002", body: str = "hi", sent_ns: int = 1, timeout: float = 10.0
) -> tuple[int, Any]:
    """POST /messages; a hang shows as a timeout error, never as a slow pass."""
    return http(
        "POST",
        f"{server.url}/messages",
        {"to": to, "body": body, "client_sent_ns": sent_ns},
        token=token,
        timeout=timeout,
    )


def history(server: ImServer, token: str, other: str) -> tuple[int, Any]:
    return http("GET", f"{server.url}/history?with={other}&limit=50", token=token)


def mode(server: ImServer) -> str:
    return str(server.metrics()["mode"])


def start_on(start_server: Starter, db: MariaDbPair, *extra: str, users: int = 20) -> ImServer:
    return start_server(*db.imserver_args(), *extra, users=users)


@pytest.mark.e2e  # real mariadbd under the IM service
def test_writes_go_to_primary_and_replicate(start_server: Starter, mariadb: MariaDbPair) -> None:
    server = start_on(start_server, mariadb)
    alice, bob = server.login(1), server.login(2)
    assert send(server, alice, "user0002", "hello", 42)[0] == 200
    mariadb.wait_replica_caught_up()
    rows = mariadb.replica.query("SELECT sender, recipient, body, client_sent_ns FROM im.messages")
    assert rows == [{"sender": "user0001", "recipient": "user0002", "body": "hello", "client_sent_ns": 42}]
    status, body = history(server, bob, "user0001")
    assert status == 200 and [m["body"] for m in body["messages"]] == ["hello"]
    metrics = server.metrics()
    assert (metrics["mode"], metrics["mode_changes"], metrics["messages"]) == ("read-write", 0, 1)
    assert http("GET", f"{server.url}/healthz") == (200, {"status": "ok", "mode": "read-write"})


@pytest.mark.e2e  # real mariadbd under the IM service
def test_killed_primary_degrades_to_read_only_and_recovers(start_server: Starter, mariadb: MariaDbPair) -> None:
    server = start_on(start_server, mariadb)
    alice, bob = server.login(1), server.login(2)
    assert send(server, alice, "user0002", "before", 1)[0] == 200
    ws = websocket.create_connection(server.ws_base + bob, timeout=5.0)  # an existing session
    try:
        mariadb.wait_replica_caught_up()
        killed_ns = time.time_ns()
        mariadb.kill_primary()

        assert poll(lambda: mode(server) == "read-only", timeout_s=20)
        metrics = server.metrics()
        assert metrics["mode_changes"] == 1 and metrics["last_mode_change_ns"] >= killed_ns
        assert http("GET", f"{server.url}/healthz") == (200, {"status": "ok", "mode": "read-only"})
        for i in range(5):  # fails fast with a clear status, never hangs
            assert send(server, alice, "user0002", "during", 100 + i) == READ_ONLY
        for n in range(3, 8):  # existing users still log in, from the replica
            server.login(n)
        status, body = history(server, bob, "user0001")
        assert status == 200 and [m["body"] for m in body["messages"]] == ["before"]
        assert ws.connected and "user0002" in http("GET", f"{server.url}/users/online", token=alice)[1]["online"]

        mariadb.restart_primary()
        assert poll(lambda: mode(server) == "read-write", timeout_s=20)
        assert server.metrics()["mode_changes"] == 2
        assert send(server, alice, "user0002", "after", 2)[0] == 200
        while True:  # the session opened before the outage still gets messages
            frame = ws.recv()
            if '"type": "message"' in frame:
                assert '"after"' in frame
                break
    finally:
        ws.close()


@pytest.mark.e2e  # real mariadbd under the IM service
def test_hung_primary_degrades_to_read_only(start_server: Starter, mariadb: MariaDbPair) -> None:
    server = start_on(start_server, mariadb)
    alice = server.login(1)
    mariadb.pause_primary()  # accepts TCP, never answers: only timeouts can tell
    try:
        assert poll(lambda: mode(server) == "read-only", timeout_s=20)
        assert send(server, alice) == READ_ONLY
        server.login(2)
        assert history(server, alice, "user0002")[0] == 200
    finally:
        mariadb.resume_primary()
    assert poll(lambda: mode(server) == "read-write", timeout_s=20)
    assert send(server, alice)[0] == 200


@pytest.mark.e2e  # real mariadbd under the IM service
def test_write_during_detection_window_fails_fast(start_server: Starter, mariadb: MariaDbPair) -> None:
    # A slow health checker: the failed write itself must switch the mode.
    server = start_on(start_server, mariadb, "--db-check-interval", "30")
    alice = server.login(1)
    mariadb.kill_primary()
    assert send(server, alice) == READ_ONLY
    assert mode(server) == "read-only"


@pytest.mark.e2e  # real mariadbd under the IM service
def test_broken_variant_hang_blocks_sends_during_the_outage(start_server: Starter, mariadb: MariaDbPair) -> None:
    server = start_on(start_server, mariadb, "--failover-bug", "hang")
    alice = server.login(1)
    mariadb.kill_primary()
    assert poll(lambda: mode(server) == "read-only", timeout_s=20)
    result: list[tuple[int, Any]] = []
    sender = threading.Thread(target=lambda: result.append(send(server, alice, timeout=120)))
    sender.start()
    sender.join(3.0)
    assert sender.is_alive(), f"the broken variant answered during the outage: {result}"
    mariadb.restart_primary()  # what it was waiting for
    sender.join(60)
    assert not sender.is_alive() and result[0][0] == 200


@pytest.mark.e2e  # real mariadbd under the IM service
def test_broken_variant_crash_exits_when_the_primary_disappears(start_server: Starter, mariadb: MariaDbPair) -> None:
    server = start_on(start_server, mariadb, "--failover-bug", "crash")
    server.login(1)
    mariadb.kill_primary()
    assert poll(lambda: server.proc.poll() is not None, timeout_s=30)
    assert server.proc.returncode == 3
    assert "failover bug 'crash'" in server.log.read_text()


@pytest.mark.e2e  # real mariadbd under the IM service
def test_load_ack_log_reconciles_and_catches_a_planted_loss(
    start_server: Starter, mariadb: MariaDbPair, tmp_path: Path
) -> None:
    server = start_on(start_server, mariadb, users=50)
    acks = tmp_path / "acks.tsv"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "loadtests/im.py"),
            "--headless",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "4s",
            "--host",
            server.url,
            "--only-summary",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "PYTHONPATH": str(REPO), "PERFGATE_ACK_LOG": str(acks), "PERFGATE_IM_USERS": "50"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    acked = read_ack_log(acks, host=server.url)
    assert acked and read_ack_log(acks, host="http://elsewhere") == []
    s = mariadb.settings
    stored = query_stored_keys(mariadb.primary.port, s.user, s.password, s.database)
    result = reconcile(acked, stored)
    assert result.ok and result.found == result.acknowledged == len(acked)

    victim = acked[len(acked) // 2]
    mariadb.primary.query(
        "DELETE FROM im.messages WHERE sender = %s AND client_sent_ns = %s", (victim.sender, victim.client_sent_ns)
    )
    stored = query_stored_keys(mariadb.primary.port, s.user, s.password, s.database)
    assert reconcile(acked, stored).lost == [victim]


@pytest.mark.e2e  # real mariadbd under the IM service
def test_broken_variant_lose_is_caught_by_reconciliation(start_server: Starter, mariadb: MariaDbPair) -> None:
    server = start_on(start_server, mariadb, "--failover-bug", "lose")
    alice = server.login(1)
    acked = []
    assert send(server, alice, sent_ns=1)[0] == 200
    acked.append(AckKey("user0001", 1))
    mariadb.kill_primary()
    assert poll(lambda: mode(server) == "read-only", timeout_s=20)
    for sent_ns in (2, 3, 4):  # the broken variant says 200 although nothing is stored
        assert send(server, alice, sent_ns=sent_ns)[0] == 200
        acked.append(AckKey("user0001", sent_ns))
    mariadb.restart_primary()
    assert poll(lambda: mode(server) == "read-write", timeout_s=20)
    s = mariadb.settings
    result = reconcile(acked, query_stored_keys(mariadb.primary.port, s.user, s.password, s.database))
    assert result.found == 1 and [k.client_sent_ns for k in result.lost] == [2, 3, 4]


def test_storage_flags() -> None:
    base = ["--port", "1", "--data", "d"]
    assert make_storage(parse_args(base)) is None  # SQLite in the data dir, as before
    storage = make_storage(
        parse_args(
            [
                *base,
                "--storage",
                "mariadb",
                "--db-primary",
                "127.0.0.1:3307",
                "--db-replica",
                "127.0.0.1:3308",
                "--db-timeout",
                "0.5",
                "--failover-bug",
                "hang",
            ]
        )
    )
    assert isinstance(storage, MariaDbStorage)
    config = storage.config
    assert (config.primary, config.replica) == (("127.0.0.1", 3307), ("127.0.0.1", 3308))
    assert (config.timeout_s, config.failover_bug, config.user) == (0.5, "hang", "im")
    for bad in (
        ["--storage", "mariadb"],
        ["--db-primary", "127.0.0.1:1"],
        ["--storage", "mariadb", "--db-primary", "nohostport"],
    ):
        with pytest.raises(SystemExit):
            parse_args([*base, *bad])
