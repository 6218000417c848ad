"""Fixtures for the cluster tests: a tiny target, moto's server on a free loopback port, provisioning
settings and a fake bundle, and a repository of the tiny target."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfgate.cluster.base import InfraSettings
from perfgate.procs import kill_tree
from perfgate.target import free_port
from tests.cluster.cloud import CONFIG, git

HERE = Path(__file__).parent
REPO = HERE.parent.parent


@pytest.fixture
def tiny_target() -> Iterator[str]:
    """``tinyserver.py`` on a free port; yields its URL and always stops it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "tinyserver.py"), str(port)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        kill_tree(proc, 5)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def moto_url(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's ThreadedMotoServer on a free loopback port (real HTTP, no in-process patching)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    # moto's backends live in this process and outlive a server: start every test from empty
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST"), timeout=10).close()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def settings() -> InfraSettings:
    return InfraSettings(bucket="pg-test", workers=3, owner="ci@test")


@pytest.fixture
def bundle(tmp_path: Path) -> dict[str, Path]:
    files = {
        "wheel": "perfgate-0.1.0-py3-none-any.whl",
        "baseline": "baseline.tar",
        "candidate": "candidate.tar",
        "config": "config.json",
    }
    out = {}
    for name, filename in files.items():
        (tmp_path / filename).write_bytes(b"x" * 100)
        out[name] = tmp_path / filename
    return out


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("tinyserver.py", "tinyload.py"):
        shutil.copy(HERE / name, root / name)
    (root / "perfgate.toml").write_text(CONFIG)
    (root / ".gitignore").write_text(".perfgate/\nreports/\n")
    git(root, "init", "-q")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    (root / "tinyload.py").write_text((root / "tinyload.py").read_text() + "\n# two\n")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two")
    return root
