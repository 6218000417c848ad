"""Fixtures for the storm tests: real IM servers on loopback, always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.storm.stormharness import ImServer


@pytest.fixture
def im_server(tmp_path: Path) -> Iterator[Callable[[], ImServer]]:
    started: list[ImServer] = []

    def start() -> ImServer:
        server = ImServer(tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
