"""gitops.repo_root: the one place a repository becomes the working tree perfgate measures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import git
import pytest

from perfgate import gitops
from perfgate.errors import RevisionError
from perfgate.model import Revision


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_repo_root_is_the_working_tree(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    assert gitops.repo_root(git.Repo(tmp_path)) == tmp_path


def test_checking_out_the_working_tree_of_a_bare_repository_is_one_line(tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    _git(tmp_path, "init", "-q", "--bare", str(bare))
    repo = git.Repo(bare)
    with (
        pytest.raises(RevisionError, match="a bare repository has no working tree"),
        gitops.checkout(repo, Revision(gitops.WORKTREE, "0" * 40), tmp_path / "wt"),
    ):
        pass  # pragma: no cover - never reached
