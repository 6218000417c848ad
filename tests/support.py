"""Helpers shared by the tests: real git repositories, the real CLI in a subprocess, and checks that
nothing this session started is left running. Importing it tags this session's processes."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NoReturn

import git
import psutil
import pytest

from perfgate import gitops

ROOT = Path(__file__).resolve().parent.parent
#: Inherited by every process this test session starts, so leak checks see only ours.
TEST_TAG = f"perfgate-tests-{os.getpid()}"
os.environ["PERFGATE_TEST_TAG"] = TEST_TAG
#: A measurement lock of this session's own: gates in parallel test workers (and real measurements
#: elsewhere on the machine) do not queue on the machine-wide lock.
os.environ.setdefault("PERFGATE_LOCK", os.path.join(tempfile.gettempdir(), f"{TEST_TAG}-measure.lock"))
AUTHOR = git.Actor("Test Author", "test@example.invalid")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_repo(path: Path, commits: list[dict[str, str]]) -> git.Repo:
    """A real git repository; each commit is {relative path: content}, "message" is the subject."""
    repo = git.Repo.init(path)
    for files in commits:
        files = dict(files)
        message = files.pop("message", "change")
        for name, content in files.items():
            file = path / name
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(content)
        repo.git.add(A=True)
        repo.index.commit(message, author=AUTHOR, committer=AUTHOR)
    return repo


def run_cli(*args: str, cwd: Path, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real ``perfgate`` CLI in a process of its own: forked from this worker's CLI server
    (``tests/cliserver.py``), or, when that is busy or the call changes how Python starts
    (a ``PYTHON*`` variable), as ``python -m perfgate.cli`` in a fresh interpreter."""
    full_env = {**os.environ, **(env or {})}
    changes_startup = any(key.startswith("PYTHON") for key in (env or {}))
    if not changes_startup and _SERVER_LOCK.acquire(blocking=False):
        try:
            return _forked(list(args), cwd, timeout, full_env)
        finally:
            _SERVER_LOCK.release()
    return subprocess.run(
        [sys.executable, "-m", "perfgate.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


_SERVER_LOCK = threading.Lock()
_server: list[subprocess.Popen[str]] = []


def _cli_server() -> subprocess.Popen[str]:
    if not _server or _server[0].poll() is not None:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "cliserver.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None and json.loads(proc.stdout.readline()) == {"ready": True}
        atexit.register(proc.stdin.close)  # type: ignore[union-attr]  # its loop ends; it exits
        _server[:] = [proc]
    return _server[0]


def _forked(args: list[str], cwd: Path, timeout: float, env: dict[str, str]) -> subprocess.CompletedProcess:
    server = _cli_server()
    with tempfile.TemporaryDirectory(prefix="perfgate-cli-") as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        out.touch()
        err.touch()
        request = {"args": args, "cwd": str(cwd), "env": env, "out": str(out), "err": str(err), "timeout": timeout}
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        reply = json.loads(server.stdout.readline())
        stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    if reply.get("timed_out"):
        raise subprocess.TimeoutExpired(["perfgate", *args], timeout, stdout, stderr)
    return subprocess.CompletedProcess(["perfgate", *args], reply["code"], stdout, stderr)


def live_processes(marks: tuple[str, ...], env_name: str, env_value: str) -> list[psutil.Process]:
    """Live processes whose command line holds one of ``marks`` and whose environment has
    ``env_name=env_value`` (so that another xdist worker's processes never count)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if any(mark in cmd for mark in marks):
            try:
                if proc.environ().get(env_name) == env_value and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.Error:
                pass
    return found


def perfgate_children() -> list[psutil.Process]:
    """Processes started by perfgate in this test session that are still alive."""
    return live_processes(("perfgate.load", "imserver", "mariadbd"), "PERFGATE_TEST_TAG", TEST_TAG)


def assert_no_children(timeout: float = 30.0) -> None:
    """Wait until every process perfgate started in this session is gone; name the stragglers if not."""
    deadline = time.monotonic() + timeout
    while children := perfgate_children():
        if time.monotonic() > deadline:
            names = []
            for proc in children:
                with contextlib.suppress(psutil.Error):
                    names.append(f"{proc.pid}: {' '.join(proc.cmdline())[:200]}")
            raise AssertionError(f"still running after {timeout:g}s: " + "; ".join(names))
        time.sleep(0.2)


def assert_nothing_left(repo_dir: Path) -> None:
    """No git worktree of ``repo_dir`` and no process perfgate started is left."""
    assert gitops.worktrees(git.Repo(repo_dir)) == []
    assert_no_children()


def gate_flagged_commit(
    repo: git.Repo, tmp_path: Path, config: str, flag_file: str, flags: str, *args: str
) -> tuple[int, dict]:
    """Commit ``flags`` into ``flag_file`` on a branch off main (the demo's flags file: its
    service reads the file at start) and gate main against it with ``config``; the verdict."""
    repo_dir = Path(str(repo.working_tree_dir))
    main = repo.main_branch  # type: ignore[attr-defined]
    repo.git.checkout("-B", f"candidate-{abs(hash(flags))}", main)
    (repo_dir / flag_file).write_text(flags + "\n")
    repo.git.add(A=True)
    repo.index.commit(f"{flag_file}: {flags or 'refactor (no change)'}", author=AUTHOR, committer=AUTHOR)
    out = tmp_path / "verdict.json"
    result = run_cli(
        "run", "--config", config, "--baseline", main, "--candidate", "HEAD", "--json", str(out), *args, cwd=repo_dir
    )
    repo.git.checkout(main)
    assert result.returncode in (0, 1, 2), result.stdout + result.stderr
    return result.returncode, json.loads(out.read_text())


def unavailable(what: str, install: str, tests: str) -> NoReturn:
    """A Debian package a test needs is missing: skip with a message, but fail under CI=true,
    where the ``tests`` ("MariaDB", "XMPP", ...) must run (.ci/run installs the package)."""
    message = f"{what} not found ({install})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must run the {tests} tests")
    pytest.skip(message)
