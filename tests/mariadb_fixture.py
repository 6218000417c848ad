"""Real MariaDB servers for tests: skipped only where mariadbd is missing outside CI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil

from perfgate.deps.mariadb import MariaDbPair, MariaDbSettings, find_binaries
from tests.support import unavailable


def require_mariadb() -> None:
    """Skip without mariadbd, unless CI=true: there the test must run, so it fails."""
    if find_binaries() is None:
        unavailable("mariadbd/mariadb-install-db", "apt-get install mariadb-server", "MariaDB")


def mariadb_processes(workdir: Path) -> list[psutil.Process]:
    """mariadbd processes whose data directory is under ``workdir``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(arg.startswith(f"--datadir={workdir}") for arg in cmdline):
            found.append(proc)
    return found


def pair_for_test(workdir: Path, settings: MariaDbSettings | None = None) -> Iterator[MariaDbPair]:
    """A started pair, always stopped and checked for leftovers afterwards."""
    require_mariadb()
    pair = MariaDbPair(workdir, settings)
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()
    assert mariadb_processes(workdir) == [], "mariadbd left running"
