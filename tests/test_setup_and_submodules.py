"""``[target] setup`` runs once per checkout before its first start, and checkouts carry their
submodules: both sides are built alike, from real git repositories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import git
import pytest

from perfgate import gitops
from perfgate.model import Revision
from perfgate.store import open_store
from tests.support import run_cli

SERVE = f"{sys.executable} -m http.server {{port}} --bind 127.0.0.1"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _repo(path: Path, toml: str) -> git.Repo:
    """Two commits that serve a page of the same size, so a gate between them is an A/A."""
    repo = git.Repo.init(path)
    (path / "perfgate.toml").write_text(toml)
    (path / "index.html").write_text("one\n")
    (path / ".gitignore").write_text(".perfgate/\nreports/\n")
    (path / "locustfile.py").write_text(
        "from locust import HttpUser, constant, task\n\n\nclass U(HttpUser):\n"
        "    wait_time = constant(0.05)\n\n    @task\n    def page(self):\n        self.client.get('/')\n"
    )
    repo.git.add(A=True)
    repo.index.commit("one")
    (path / "index.html").write_text("two\n")
    repo.git.add(A=True)
    repo.index.commit("two")
    return repo


def _toml(setup: str, command: str = SERVE) -> str:
    return (
        f"[target]\ncommand = {json.dumps(command)}\nready_path = '/'\nmetrics_path = false\n"
        f"setup = {json.dumps(setup)}\n"
        "[load]\nlocustfile = 'locustfile.py'\nuser_classes = ['U']\nusers = 2\nwarmup = 1\nduration = '2s'\n"
    )


def test_a_failing_setup_is_one_line_and_leaves_nothing_behind(tmp_path):
    repo = _repo(tmp_path / "svc", _toml("echo building; echo 'error: no compiler' >&2; exit 7"))
    result = run_cli("run", "--baseline", "HEAD~1", "--candidate", "HEAD", cwd=tmp_path / "svc")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 3 and len(lines) == 1, result.stderr
    assert "[target] setup" in lines[0] and "exited with code 7: error: no compiler" in lines[0]
    assert len(repo.git.worktree("list").splitlines()) == 1  # the worktrees are gone
    assert [r.state for r in open_store(tmp_path / "svc" / ".perfgate").list_runs()] == ["error"]


@pytest.mark.e2e
@pytest.mark.xdist_group("tiny_gates")
def test_setup_builds_each_checkout_before_its_target_starts(tmp_path):
    # the target refuses to start unless its own checkout was built by the setup command
    command = f"test -f built-by-setup && {SERVE}"
    _repo(tmp_path / "svc", _toml("{python} -c \"open('built-by-setup', 'w').write('ok')\"", command))
    gate = ("run", "--baseline", "HEAD~1", "--candidate", "HEAD", "--rounds", "3", "--max-rounds", "3")
    result = run_cli(*gate, cwd=tmp_path / "svc")
    assert result.returncode in (0, 2), result.stderr  # an A/A, built on both sides: green or yellow, never red
    assert "setup of the baseline" in result.stdout and "setup of the candidate" in result.stdout
    assert not (tmp_path / "svc" / "built-by-setup").exists()  # built in the worktrees, not the user's tree


def test_a_checkout_carries_its_submodules(tmp_path, monkeypatch):
    # a local submodule URL, as a test needs one: git refuses file:// submodule clones by default
    for key, value in {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "always")
    lib = tmp_path / "lib"
    lib.mkdir()
    _git(lib, "init", "-q")
    (lib / "vendored.txt").write_text("from the submodule\n")
    _git(lib, "add", "-A")
    _git(lib, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lib")
    app = tmp_path / "app"
    app.mkdir()
    _git(app, "init", "-q")
    _git(app, "submodule", "add", "-q", str(lib), "lib")
    _git(app, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "app with lib")
    repo = git.Repo(app)
    revision = Revision("HEAD", repo.head.commit.hexsha)
    with gitops.checkout(repo, revision, tmp_path / "wt") as path:
        assert (path / "lib" / "vendored.txt").read_text() == "from the submodule\n"
    assert not (tmp_path / "wt").exists()
