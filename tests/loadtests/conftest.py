"""Fixtures that run the real IM service and gateway peer; always stopped at teardown."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfgate.deps.mariadb import MariaDbPair
from tests.loadtests.imharness import REPO, AuthStarter, ImServer, PeerStarter, Proc, Starter, free_port
from tests.mariadb_fixture import pair_for_test

#: Teardown's wait for SIGTERM before SIGKILL (a service holding a message for a 10 s peer never exits sooner).
STOP_S = 1.0


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Starter]:
    """Start ``python -m loadtests.imserver`` (killed at teardown, whatever happens)."""
    procs: list[Proc] = []

    def start(*extra: str, users: int = 20, data: Path | None = None) -> ImServer:
        port = free_port()
        data = data or tmp_path / f"data-{port}"
        log = tmp_path / f"imserver-{port}.log"
        cmd = [
            sys.executable,
            "-m",
            "perfgate.reference.imserver",
            "--port",
            str(port),
            "--data",
            str(data),
            "--users",
            str(users),
            *extra,
        ]
        with log.open("ab") as out:
            popen = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        server = ImServer(popen, f"http://127.0.0.1:{port}", log, data)
        procs.append(server)
        server.wait_healthy()
        return server

    yield start
    for p in procs:  # nothing is asserted here: one that drains a held gateway message is killed
        p.terminate(timeout=STOP_S)


@pytest.fixture
def start_peer(tmp_path: Path) -> Iterator[PeerStarter]:
    """Start the slow external-network stand-in with a given per-message delay."""
    procs: list[Proc] = []

    def start(delay_ms: float) -> Proc:
        port = free_port()
        log = tmp_path / f"peer-{port}.log"
        cmd = [
            sys.executable,
            "-m",
            "perfgate.reference.imserver.gateway_peer",
            "--port",
            str(port),
            "--delay-ms",
            str(delay_ms),
        ]
        with log.open("ab") as out:
            popen = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        peer = Proc(popen, f"http://127.0.0.1:{port}", log)
        procs.append(peer)
        peer.wait_healthy()
        return peer

    yield start
    for p in procs:  # nothing is asserted here: one that drains a held gateway message is killed
        p.terminate(timeout=STOP_S)


@pytest.fixture
def mariadb(tmp_path: Path) -> Iterator[MariaDbPair]:
    """A real MariaDB primary and replica (skipped without mariadbd, except under CI=true)."""
    yield from pair_for_test(tmp_path / "db")


@pytest.fixture
def start_auth(tmp_path: Path) -> Iterator[AuthStarter]:
    """Start auth backends (``python -m loadtests.imserver.authd``); killed at teardown, paused or not."""
    procs: list[Proc] = []

    def start(store: str = "sqlite", users: int = 20, port: int = 0, data: Path | None = None) -> Proc:
        port = port or free_port()
        data = data or tmp_path / f"auth-{port}"
        log = tmp_path / f"authd-{port}.log"
        cmd = [sys.executable, "-m", "perfgate.reference.imserver.authd", "--port", str(port), "--data", str(data)]
        cmd += ["--store", store, "--users", str(users), "--seed-cache", str(tmp_path / "seed-cache")]
        with log.open("ab") as out:
            popen = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        backend = Proc(popen, f"http://127.0.0.1:{port}", log)
        procs.append(backend)
        backend.wait_healthy()
        return backend

    yield start
    for p in procs:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGCONT)
        p.terminate(timeout=STOP_S)
