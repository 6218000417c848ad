"""What a killed gate leaves behind, found and cleaned (``perfgate gc``, and every gate's start).

A gate killed with SIGKILL runs no ``finally``: its targets and load processes
keep running, its git worktrees stay registered, its scratch folder stays in
the temporary directory and its run stays "running" in the store. Each of them
carries its owner, so that only what belongs to a *dead* gate is touched and a
live concurrent gate is never disturbed:

* processes: :data:`perfgate.procs.OWNER_ENV` (``<run id>:<owner pid>``) in
  their environment, set by :func:`perfgate.procs.spawn` for every child
  (never identified by name);
* scratch folders (``<tmp>/perfgate-*``): an owner file with the pid, the host
  and the repository whose worktrees it holds;
* runs: ``owner`` (pid and host) in the manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import psutil

from perfgate import gitops
from perfgate.errors import PerfgateError, StoreError
from perfgate.procs import OWNER_ENV, stop_processes

SCRATCH_PREFIX = "perfgate-"
OWNER_FILE = "perfgate-owner.json"
#: Seconds a marked process gets between SIGTERM and SIGKILL.
STOP_TIMEOUT_S = 5.0


@dataclass
class Reaped:
    processes: list[int] = field(default_factory=list)
    worktrees: list[Path] = field(default_factory=list)
    scratch: list[Path] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not (self.processes or self.worktrees or self.scratch or self.runs):
            return ""
        return (
            f"{len(self.processes)} processes stopped, {len(self.worktrees)} worktrees removed, "
            f"{len(self.scratch)} scratch folders removed, {len(self.runs)} runs marked interrupted"
        )


def owner() -> dict[str, Any]:
    """Who owns what this process creates: its pid and host."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def is_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _dead(info: Any) -> bool:
    """``info`` (an owner dict) names a process of this host that is gone."""
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return False  # no owner recorded: not ours to judge
    return info.get("host") == socket.gethostname() and not is_alive(info["pid"])


# --- scratch folders ------------------------------------------------------------------


def make_scratch(repo_dir: Path) -> Path:
    """A new scratch folder with its owner file (this process, and the repository of its worktrees)."""
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    (scratch / OWNER_FILE).write_text(json.dumps({**owner(), "repo": str(repo_dir)}), encoding="utf-8")
    return scratch


def record_run(scratch: Path, run_id: str) -> None:
    info = read_owner(scratch) or owner()
    (scratch / OWNER_FILE).write_text(json.dumps({**info, "run_id": run_id}), encoding="utf-8")


def read_owner(scratch: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((scratch / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def dead_scratch() -> list[tuple[Path, dict[str, Any]]]:
    """Scratch folders whose owner process is dead."""
    found = []
    for path in Path(tempfile.gettempdir()).glob(SCRATCH_PREFIX + "*"):
        info = read_owner(path) if path.is_dir() else None
        if info is not None and _dead(info):
            found.append((path, info))
    return found


# --- processes --------------------------------------------------------------------------


def owner_pid(tag: str | None) -> int | None:
    """The owner pid of an :data:`OWNER_ENV` value ``<run id>:<pid>``."""
    if not tag or ":" not in tag:
        return None
    pid = tag.rsplit(":", 1)[1]
    return int(pid) if pid.isdigit() else None


def orphans() -> list[psutil.Process]:
    """Processes perfgate started whose owning perfgate process is dead."""
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter():
        if proc.pid in mine:
            continue
        try:
            pid = owner_pid(proc.environ().get(OWNER_ENV))
            if pid is not None and pid not in mine and not is_alive(pid) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


# --- worktrees and runs -----------------------------------------------------------------


def _under(path: Path, folders: list[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def remove_worktrees(repo_dir: Path, dead: list[Path]) -> list[Path]:
    """Remove ``repo_dir``'s worktrees inside dead scratch folders; prune registrations whose folder is gone."""
    try:
        repo = gitops.open_repo(repo_dir)
        registered = gitops.worktrees(repo)
    except (PerfgateError, git.GitError, OSError):
        return []  # a repository we cannot read is not ours to clean
    removed = []
    temp = Path(tempfile.gettempdir())
    for path in registered:
        in_scratch = path.parent.name.startswith(SCRATCH_PREFIX) and path.parent.parent == temp
        if _under(path, dead) or (in_scratch and not path.exists()):
            gitops.remove_worktree(repo, path)
            removed.append(path)
    return removed


def stale_runs(store: Any) -> list[str]:
    """Mark "running" runs whose owner process (on this host) is dead as "interrupted"."""
    marked = []
    for row in store.list_runs():
        if row.state != "running":
            continue
        try:
            info = store.manifest(row.run_id).owner
        except StoreError:
            continue
        if _dead(info):
            store.mark_run(row.run_id, "interrupted")
            marked.append(row.run_id)
    return marked


def reap(repo_dir: Path | None = None, store: Any = None) -> Reaped:
    """Clean up after dead gates: their processes, worktrees, scratch folders and "running" runs."""
    reaped = Reaped(processes=stop_processes(orphans(), STOP_TIMEOUT_S))
    dead = dead_scratch()
    repos = {Path(info["repo"]) for _, info in dead if isinstance(info.get("repo"), str)}
    if repo_dir is not None:
        repos.add(Path(repo_dir))
    for repo in sorted(repos):
        reaped.worktrees += remove_worktrees(repo, [path for path, _ in dead])
    for path, _ in dead:
        shutil.rmtree(path, ignore_errors=True)
        reaped.scratch.append(path)
    if store is not None:
        reaped.runs = stale_runs(store)
    return reaped
