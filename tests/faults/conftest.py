"""Fixtures for the fault proxy: a proxy thread on each event loop, loopback servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from perfgate.faults import ProxyThread
from tests.faults.helpers_faults import TcpServer


@pytest.fixture(params=["asyncio", "uvloop"])
def pt(request: pytest.FixtureRequest) -> Iterator[ProxyThread]:
    """A started ProxyThread (seeded), on the stdlib loop and on uvloop."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    thread = ProxyThread(seed=7, use_uvloop=request.param == "uvloop").start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def echo() -> Iterator[TcpServer]:
    server = TcpServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def greeter() -> Iterator[TcpServer]:
    """Sends 100 bytes, then closes."""
    server = TcpServer(greeting=bytes(range(100)))
    try:
        yield server
    finally:
        server.stop()
