"""A real repository with hooks installed gets its commits timed: post-commit in the
background, then a pre-push that blocks the regression (from the stored result)."""

from __future__ import annotations

import re

import git
import psutil
import pytest

from perfgate import gitops, hooks
from perfgate.store import LocalStore
from tests.history.gitrun import git_run, wait_for
from tests.history.imrepo import SCRYPT_LINE, build_im_repo
from tests.support import assert_no_children, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_gates")]  # see pyproject [tool.pytest.ini_options]


def test_post_commit_times_the_commit_and_pre_push_blocks_the_regression(tmp_path):
    repo_dir = tmp_path / "im"
    build_im_repo(repo_dir, commits=1)
    bare = tmp_path / "remote.git"
    git_run(tmp_path, "init", "-q", "--bare", str(bare))
    git_run(repo_dir, "remote", "add", "origin", str(bare))
    git_run(repo_dir, "push", "-q", "origin", "HEAD:refs/heads/main")
    for flag in ("--post-commit", "--pre-push"):
        result = run_cli("hook", "install", flag, "--profile", "quick", "--repo", str(repo_dir), cwd=repo_dir)
        assert result.returncode == 0, result.stderr
    repo = git.Repo(repo_dir)
    log = hooks.log_path(repo)

    auth = repo_dir / "loadtests" / "imserver" / "auth.py"
    text = auth.read_text()
    log2n = int(SCRYPT_LINE.search(text).group(1))
    auth.write_text(SCRYPT_LINE.sub(f"SCRYPT_LOG2N = {log2n + 2}", text, count=1))
    git_run(repo_dir, "commit", "-qam", "auth: raise the scrypt work factor")
    sha = repo.head.commit.hexsha

    # The commit is done while its measurement has only just begun, in the background.
    wait_for(lambda: log.exists() and f"post-commit {sha[:10]} queued" in log.read_text(), timeout=60)
    pid = int(re.search(rf"post-commit {sha[:10]} queued pid=(\d+)", log.read_text()).group(1))
    assert f"post-commit {sha[:10]} regression" not in log.read_text()
    assert psutil.pid_exists(pid)
    assert repo.head.commit.hexsha == sha and not repo.is_dirty()

    wait_for(
        lambda: re.search(rf"post-commit {sha[:10]} (pass|regression|inconclusive|error)", log.read_text()) is not None,
        timeout=600,
    )
    assert f"post-commit {sha[:10]} regression" in log.read_text(), log.read_text()
    store = LocalStore(repo_dir / ".perfgate")
    runs = [r for r in store.list_runs() if r.candidate == sha]
    assert len(runs) == 1 and runs[0].state == "regression"
    assert runs[0].baseline == repo.head.commit.parents[0].hexsha
    assert len(store.rounds(runs[0].run_id)) >= 3

    # pre-push re-judges the stored comparison (no new gate) and blocks
    blocked = git_run(repo_dir, "push", "origin", "HEAD:refs/heads/main", check=False)
    assert blocked.returncode != 0, blocked.stderr
    assert "push blocked by a performance regression" in blocked.stderr
    assert git.Repo(bare).commit("main").hexsha != sha
    assert re.search(rf"pre-push \S+ \w+\.\.{sha[:10]} regression run=\S+ \(stored\)", log.read_text())
    assert len(store.list_runs()) == 1

    # --no-verify bypasses it, as for any pre-push hook
    git_run(repo_dir, "push", "-q", "--no-verify", "origin", "HEAD:refs/heads/main")
    assert git.Repo(bare).commit("main").hexsha == sha

    assert_no_children()
    assert gitops.worktrees(repo) == []
    assert run_cli("hook", "uninstall", "--repo", str(repo_dir), cwd=repo_dir).returncode == 0
