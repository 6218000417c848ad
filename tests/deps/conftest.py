"""Fixtures for perfgate.deps: a real MariaDB primary and replica per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from perfgate.deps.mariadb import MariaDbPair
from tests.mariadb_fixture import pair_for_test


@pytest.fixture
def mariadb(tmp_path: Path) -> Iterator[MariaDbPair]:
    yield from pair_for_test(tmp_path / "db")
