"""Helpers to run the real IM service and gateway peer as subprocesses on loopback."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 10.0) -> tuple[int, Any]:
    """One JSON request; returns (status, decoded body) for every status code."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@dataclass
class Proc:
    """A started child process listening on ``url``."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited early ({self.proc.returncode}):\n{self.log.read_text()}")
            try:
                if http("GET", f"{self.url}/healthz", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"not healthy in {STARTUP_TIMEOUT_S}s:\n{self.log.read_text()}")

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@dataclass
class ImServer(Proc):
    data: Path

    def login(self, n: int) -> str:
        status, body = http("POST", f"{self.url}/login", {"user": f"user{n:04d}", "password": f"pass{n:04d}"})
        assert status == 200, body
        return str(body["token"])

    def metrics(self) -> dict[str, Any]:
        return dict(http("GET", f"{self.url}/metrics")[1])

    @property
    def ws_base(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws?token="


Starter = Callable[..., ImServer]
PeerStarter = Callable[[float], Proc]
AuthStarter = Callable[..., Proc]


def poll(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Re-check a condition until it holds or ``timeout_s`` passes (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()
