"""A real Prosody for tests, from examples/prosody's config: skipped only where prosody is missing outside CI."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_port, unavailable

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "prosody"
STARTUP_TIMEOUT_S = 20.0


def require_prosody() -> None:
    """Skip without prosody, unless CI=true: there the test must run, so it fails."""
    if not shutil.which("prosody"):
        unavailable("prosody", "apt-get install prosody", "XMPP")


@dataclass
class Prosody:
    proc: subprocess.Popen[bytes]
    port: int
    data: Path

    @property
    def url(self) -> str:
        return f"xmpp://127.0.0.1:{self.port}"

    def log(self) -> str:
        path = self.data / "prosody.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def wait_listening(proc: subprocess.Popen[bytes], port: int, data: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prosody exited ({proc.returncode}): {(data / 'stdout.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"prosody not listening on {port} after {STARTUP_TIMEOUT_S:g}s")


def start_prosody(workdir: Path, users: int = 40, config: Path = EXAMPLE / "prosody.cfg.lua") -> Prosody:
    """Seed ``users`` accounts, start Prosody in the foreground on a free port; wait until it listens."""
    require_prosody()
    port = free_port()
    data = workdir / f"prosody-{port}"
    seed = [sys.executable, str(EXAMPLE / "seed_accounts.py"), str(data), "--users", str(users)]
    subprocess.run(seed, check=True, timeout=60)
    env = {**os.environ, "PROSODY_PORT": str(port), "PROSODY_DATA": str(data)}
    with open(data / "stdout.log", "wb") as out:
        proc = subprocess.Popen(
            ["prosody", "--config", str(config), "-F"],
            cwd=config.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Prosody(proc, port, data)
    try:
        wait_listening(proc, port, data)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture
def prosody(tmp_path: Path) -> Iterator[Prosody]:
    server = start_prosody(tmp_path)
    try:
        yield server
    finally:
        server.stop()
