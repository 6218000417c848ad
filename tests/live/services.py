"""Reference IM services started by the tests themselves, as deployments perfgate did not start."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import git

import perfgate.reference
from tests.support import AUTHOR, free_port

SCRYPT_BLOCK = re.compile(r"^SCRYPT_R = (\d+)$", re.MULTILINE)
#: Accounts the services seed and the locustfile logs in with.
ACCOUNTS = 24


def im_repo(path: Path, config: str, factor: int = 4) -> git.Repo:
    """A repository of the reference service: HEAD~1, and HEAD with scrypt's block size ``factor`` times
    larger (every login costs that much more CPU); ``config`` is its perfgate.toml."""
    source = Path(list(perfgate.reference.__path__)[0])
    shutil.copytree(source, path / "loadtests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (path / "perfgate.toml").write_text(config)
    (path / ".gitignore").write_text(".perfgate/\nreports/\n__pycache__/\n")
    repo = git.Repo.init(path)
    repo.git.add(A=True)
    repo.index.commit("IM service", author=AUTHOR, committer=AUTHOR)
    auth = path / "loadtests" / "imserver" / "auth.py"
    text = auth.read_text()
    match = SCRYPT_BLOCK.search(text)
    assert match is not None, auth
    auth.write_text(SCRYPT_BLOCK.sub(f"SCRYPT_R = {int(match.group(1)) * factor}", text, count=1))
    repo.git.add(A=True)
    repo.index.commit("auth: a larger scrypt block", author=AUTHOR, committer=AUTHOR)
    return repo


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the service at {url} exited with {proc.returncode}"
        with contextlib.suppress(OSError), opener.open(url + "/healthz", timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"the service at {url} was not ready after {timeout:g} s")


@contextlib.contextmanager
def services(checkouts: list[tuple[Path, list[str]]], data: Path) -> Iterator[list[str]]:
    """One reference service per (checkout, extra flags), each on a free loopback port; their URLs.
    Stopped when the block ends (perfgate never stops them)."""
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for i, (checkout, flags) in enumerate(checkouts):
            port = free_port()
            command = [sys.executable, "-m", "loadtests.imserver", "--port", str(port), "--data", str(data / str(i))]
            log = open(data / f"service-{i}.log", "wb")  # noqa: SIM115 (closed with the process)
            procs.append(
                subprocess.Popen([*command, "--users", str(ACCOUNTS), *flags], cwd=checkout, stdout=log, stderr=log)
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs):
            wait_ready(url, proc)
        yield urls
        for url, proc in zip(urls, procs):
            assert proc.poll() is None, f"the service at {url} did not outlive the run"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def worktree(repo: git.Repo, rev: str, path: Path) -> Path:
    repo.git.worktree("add", "--detach", str(path), rev)
    return path
