"""Hooks with real git repositories and real hook execution (`git commit`, `git push` to a bare repo)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import git
import pytest

from perfgate import hooks
from perfgate.errors import ConfigError
from tests.history.gitrun import git_run, wait_for
from tests.support import run_cli


@pytest.fixture
def repo(tmp_path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git_run(path, "init", "-q", "-b", "main")
    (path / "a.txt").write_text("one\n")
    git_run(path, "add", "a.txt")
    git_run(path, "commit", "-q", "-m", "first")
    return path


def user_hook(repo: Path, name: str, marker: Path, exit_code: int = 0) -> Path:
    path = repo / ".git" / "hooks" / name
    path.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\ncat >> {marker}\nexit {exit_code}\n')
    path.chmod(0o755)
    return path


def test_install_chains_an_existing_hook_and_uninstall_restores_it(repo, tmp_path):
    marker = tmp_path / "marker"
    original = user_hook(repo, "post-commit", marker)
    text = original.read_text()
    result = run_cli("hook", "install", "--post-commit", "--repo", str(repo), cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "chains your existing hook" in result.stdout
    assert hooks.is_managed(original)
    chained = repo / ".git" / "hooks" / "post-commit.perfgate-chained"
    assert chained.read_text() == text
    # installing again refreshes perfgate's script and keeps the one chained hook
    assert run_cli("hook", "install", "--post-commit", "--repo", str(repo), cwd=repo).returncode == 0
    assert chained.read_text() == text
    assert not (repo / ".git" / "hooks" / "post-commit.perfgate-chained.perfgate-chained").exists()

    (repo / "a.txt").write_text("two\n")
    git_run(repo, "commit", "-qam", "second")  # no perfgate.toml here: perfgate logs an error, the commit stands
    assert "post-commit" in marker.read_text()  # the user's hook still ran
    log = hooks.log_path(git.Repo(repo))
    wait_for(lambda: log.exists() and "error: no perfgate.toml" in log.read_text())
    assert git.Repo(repo).head.commit.summary == "second"

    result = run_cli("hook", "uninstall", "--repo", str(repo), cwd=repo)
    assert result.returncode == 0 and "chained hook is back" in result.stdout
    assert original.read_text() == text and not chained.exists()


def test_pre_push_passes_its_input_to_the_chained_hook_and_allows_on_perfgate_errors(repo, tmp_path):
    bare = tmp_path / "remote.git"
    git_run(tmp_path, "init", "-q", "--bare", str(bare))
    git_run(repo, "remote", "add", "origin", str(bare))
    marker = tmp_path / "pushed"
    user_hook(repo, "pre-push", marker)
    assert run_cli("hook", "install", "--pre-push", "--repo", str(repo), cwd=repo).returncode == 0
    result = git_run(repo, "push", "-q", "origin", "main")
    sha = git.Repo(repo).head.commit.hexsha
    text = marker.read_text()
    assert f"origin {bare}" in text and f"refs/heads/main {sha}" in text  # arguments and stdin, both forwarded
    assert "did not run to a verdict" in result.stderr  # no config: perfgate failed, the push went through
    assert git.Repo(bare).commit("main").hexsha == sha


def test_a_failing_chained_pre_push_hook_still_blocks(repo, tmp_path):
    bare = tmp_path / "remote.git"
    git_run(tmp_path, "init", "-q", "--bare", str(bare))
    git_run(repo, "remote", "add", "origin", str(bare))
    user_hook(repo, "pre-push", tmp_path / "m", exit_code=7)
    assert run_cli("hook", "install", "--pre-push", "--repo", str(repo), cwd=repo).returncode == 0
    assert git_run(repo, "push", "-q", "origin", "main", check=False).returncode != 0
    assert git_run(repo, "push", "-q", "--no-verify", "origin", "main").returncode == 0


def test_hooks_path_is_honoured(repo):
    git_run(repo, "config", "core.hooksPath", ".githooks")
    installed = hooks.install(repo, "pre-push", hooks.HookSettings())
    assert installed.path == repo / ".githooks" / "pre-push"
    assert os.access(installed.path, os.X_OK)
    assert hooks.status(repo)["pre-push"] == "installed"
    assert hooks.uninstall(repo)[0].hook == "pre-push" and not installed.path.exists()


def test_the_hook_script_runs_this_python_with_the_settings(repo, tmp_path):
    config = tmp_path / "hook.toml"
    config.write_text("")
    script = hooks.install(repo, "pre-push", hooks.HookSettings("default", config, block=False)).path.read_text()
    assert f"{sys.executable} -I -m perfgate.cli hook run pre-push" in script
    assert "--profile default" in script and f"--config {config}" in script and "--no-block" in script


def test_bad_arguments_are_one_line_errors(repo, tmp_path):
    for args, needle in (
        (["--profile", "turbo"], "invalid choice"),
        (["--config", str(tmp_path / "missing.toml")], "file not found"),
    ):
        result = run_cli("hook", "install", "--repo", str(repo), *args, cwd=repo)
        assert result.returncode == 3, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("perfgate: error:") and needle in result.stderr
        assert "Traceback" not in result.stderr
    assert not (repo / ".git" / "hooks" / "post-commit").exists()  # nothing left behind
    outside = run_cli("hook", "install", "--repo", str(tmp_path), cwd=tmp_path)
    assert outside.returncode == 3 and "not inside a git repository" in outside.stderr
    with pytest.raises(ConfigError, match="perfgate installs only"):
        hooks.render_script("pre-commit", hooks.HookSettings(), tmp_path / "log")


def test_a_foreign_hook_is_never_overwritten(repo, tmp_path):
    hook = user_hook(repo, "pre-push", tmp_path / "m")
    (repo / ".git" / "hooks" / "pre-push.perfgate-chained").write_text("#!/bin/sh\n")
    with pytest.raises(ConfigError, match="already exists"):
        hooks.install(repo, "pre-push", hooks.HookSettings())
    assert not hooks.is_managed(hook)
    assert hooks.uninstall(repo) == []  # a foreign hook is not perfgate's to remove


def test_push_baseline(repo, tmp_path):
    r = git.Repo(repo)
    first = r.head.commit.hexsha
    for k in range(2):
        (repo / "a.txt").write_text(f"v{k}\n")
        git_run(repo, "commit", "-qam", f"c{k}")
    tip = r.head.commit.hexsha
    update = hooks.PushUpdate("refs/heads/main", tip, "refs/heads/main", first)
    assert hooks.push_baseline(r, "origin", update) == first  # the remote's tip, which we have
    new_branch = hooks.PushUpdate("refs/heads/main", tip, "refs/heads/main", hooks.ZERO_SHA)
    assert hooks.push_baseline(r, "origin", new_branch) is None  # every commit is new, back to the root
    bare = tmp_path / "remote.git"
    git_run(tmp_path, "init", "-q", "--bare", str(bare))
    git_run(repo, "remote", "add", "origin", str(bare))
    git_run(repo, "push", "-q", "--no-verify", "origin", f"{first}:refs/heads/main")
    git_run(repo, "fetch", "-q", "origin")
    assert hooks.push_baseline(r, "origin", new_branch) == first  # parent of the oldest commit origin lacks
    assert hooks.parse_push(f"refs/heads/x {tip} refs/heads/x {hooks.ZERO_SHA}\n")[0].local_sha == tip


def test_post_commit_skips_rebased_commits_and_logs_each_commit_by_its_own_sha(repo):
    git_run(repo, "checkout", "-qb", "feature")
    for name in ("b", "c"):
        (repo / name).write_text(name)
        git_run(repo, "add", name)
        git_run(repo, "commit", "-qm", name)
    git_run(repo, "checkout", "-q", "main")
    (repo / "d").write_text("d")
    git_run(repo, "add", "d")
    git_run(repo, "commit", "-qm", "d")
    git_run(repo, "checkout", "-q", "feature")
    hooks.install(repo, "post-commit", hooks.HookSettings())
    log = hooks.log_path(git.Repo(repo))
    git_run(repo, "rebase", "-q", "main")  # replays b and c: not timed
    shas = []
    for name in ("e", "f"):  # two quick commits: each queued under its own sha
        (repo / name).write_text(name)
        git_run(repo, "add", name)
        git_run(repo, "commit", "-qm", name)
        shas.append(git.Repo(repo).head.commit.hexsha)
    wait_for(lambda: log.exists() and log.read_text().count(" error: ") == 2)
    queued = [line.split()[2] for line in log.read_text().splitlines() if " queued " in line]
    assert sorted(queued) == sorted(sha[:10] for sha in shas)
