"""Git: resolve revisions and check them out into temporary worktrees (gitpython)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import git

from perfgate.errors import RevisionError
from perfgate.model import Revision

#: The label that means "the working tree as it is, uncommitted changes included".
WORKTREE = "WORKTREE"


def open_repo(path: Path | str) -> git.Repo:
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise RevisionError(f"{path}: not inside a git repository") from exc


#: A GitHub remote: https://github.com/o/r(.git), git@github.com:o/r(.git), ssh://git@github.com/o/r.
_GITHUB_REMOTE = re.compile(
    r"(?:https://(?:[^@/]+@)?|ssh://git@|git@)github\.com[/:]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?"
)


def web_url(repo: git.Repo) -> str:
    """The repository's page when its ``origin`` is on GitHub (``https://github.com/o/r``), else "".
    In GitHub Actions, ``GITHUB_SERVER_URL`` and ``GITHUB_REPOSITORY`` say it for Enterprise too."""
    server, name = os.environ.get("GITHUB_SERVER_URL", ""), os.environ.get("GITHUB_REPOSITORY", "")
    if server and name:
        return f"{server.rstrip('/')}/{name}"
    try:
        url = repo.remote("origin").url
    except (ValueError, git.GitCommandError):
        return ""  # no origin
    found = _GITHUB_REMOTE.fullmatch(url)
    return f"https://github.com/{found[1]}/{found[2]}" if found else ""


def repo_root(repo: git.Repo) -> Path:
    """The working tree of ``repo``; perfgate needs one (a bare repository has none)."""
    if repo.working_tree_dir is None:
        raise RevisionError(f"{repo.git_dir}: a bare repository has no working tree to measure")
    return Path(repo.working_tree_dir)


def resolve(repo: git.Repo, rev: str) -> Revision:
    """Resolve ``rev`` (any git revision, or ``WORKTREE``) to a :class:`Revision`."""
    if rev == WORKTREE:
        head = _commit(repo, "HEAD", "the working tree needs at least one commit")
        return _revision(WORKTREE, head, dirty=repo.is_dirty(untracked_files=False))
    return _revision(rev, _commit(repo, rev, f"unknown revision {rev!r}"))


def _commit(repo: git.Repo, rev: str, message: str) -> git.Commit:
    try:
        return repo.commit(rev)
    except (git.BadName, git.BadObject, ValueError, git.GitCommandError) as exc:
        raise RevisionError(f"{message} in {repo.working_tree_dir}") from exc


def _revision(label: str, commit: git.Commit, dirty: bool = False) -> Revision:
    return Revision(
        label=label,
        sha=commit.hexsha,
        subject=commit.summary if isinstance(commit.summary, str) else commit.summary.decode(),
        author=f"{commit.author.name} <{commit.author.email}>",
        date=commit.committed_datetime.isoformat(),
        dirty=dirty,
    )


@contextmanager
def checkout(repo: git.Repo, revision: Revision, path: Path) -> Iterator[Path]:
    """Yield a directory holding ``revision``; a detached worktree that is always removed.

    The working tree itself is used as is for :data:`WORKTREE`.
    """
    if revision.label == WORKTREE:
        yield repo_root(repo)
        return
    try:
        with _worktree_lock(repo):
            repo.git.worktree("add", "--detach", "--force", str(path), revision.sha)
    except git.GitCommandError as exc:
        raise RevisionError(f"cannot check out {revision.label} into {path}: {exc.stderr.strip()}") from exc
    try:
        if (path / ".gitmodules").is_file():  # a checkout builds like a clone: with its submodules
            try:
                git.Repo(path).git.submodule("update", "--init", "--recursive")
            except git.GitCommandError as exc:
                raise RevisionError(f"{revision.label}: submodules: {' '.join(exc.stderr.split())[:300]}") from exc
        yield path
    finally:
        remove_worktree(repo, path)


def remove_worktree(repo: git.Repo, path: Path) -> None:
    with _worktree_lock(repo):
        try:
            repo.git.worktree("remove", "--force", str(path))
        except git.GitCommandError:
            shutil.rmtree(path, ignore_errors=True)
        with suppress(git.GitCommandError):
            repo.git.worktree("prune")


@contextmanager
def _worktree_lock(repo: git.Repo) -> Iterator[None]:
    """One worktree change at a time per repository, across processes (two gates or backfills
    at once): ``git worktree add`` reads every entry under .git/worktrees and fails on one that
    another process is still writing, and ``prune`` removes such entries."""
    with open(Path(repo.common_dir) / "perfgate-worktree.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def worktrees(repo: git.Repo) -> list[Path]:
    """Every linked worktree of ``repo`` (the main one excluded)."""
    lines = repo.git.worktree("list", "--porcelain").splitlines()
    paths = [Path(line.split(" ", 1)[1]) for line in lines if line.startswith("worktree ")]
    return paths[1:]


def list_commits(repo_dir: Path, rev_range: str, limit: int | None = None) -> list[Revision]:
    """First-parent commits of ``rev_range`` (``A..B`` or a single revision), oldest first."""
    repo = open_repo(repo_dir)
    args = ["--first-parent"] + ([f"--max-count={limit}"] if limit else []) + [rev_range, "--"]
    try:
        shas = repo.git.rev_list(*args).split()
    except git.GitCommandError as exc:
        raise RevisionError(
            f"bad revision range {rev_range!r} in {repo.working_tree_dir}: "
            f"{exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else exc}"
        ) from exc
    if not shas:
        raise RevisionError(f"revision range {rev_range!r} has no commits")
    return [resolve(repo, sha) for sha in reversed(shas)]
