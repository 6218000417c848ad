"""``perfgate gc``: clean up after killed gates on this machine.

Stops the processes perfgate started whose owning gate is dead (found by the
owner marker in their environment, never by name), removes the git worktrees
and scratch folders of dead gates, and marks their runs still "running" in the
store as "interrupted". What a live gate owns is never touched. Every gate also
does this when it starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from perfgate import gitops
from perfgate.config import find_config, load_config
from perfgate.errors import ConfigError
from perfgate.leftovers import reap
from perfgate.outcome import Outcome
from perfgate.store import is_remote, open_store
from perfgate.store.local import LocalStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    parser.add_argument("--config", type=Path, help="config naming the store (default: search the repo)")
    parser.add_argument("--store", type=str, help="the store (default: [store] path of the config, else .perfgate)")


def _store(args: argparse.Namespace, root: Path) -> LocalStore | None:
    if args.store is not None:
        return open_store(args.store) if is_remote(args.store) or Path(args.store).is_dir() else None
    config = None
    if args.config is not None:
        config = load_config(args.config)
    else:
        try:
            find_config(root)
            config = load_config(directory=root)
        except ConfigError:
            config = None
    path = config.store if config is not None else ".perfgate"
    if is_remote(path):
        return open_store(path)
    folder = (config.root if config is not None else root) / path
    return open_store(folder) if folder.is_dir() else None


def run(args: argparse.Namespace, console: Console) -> Outcome:
    repo = gitops.open_repo(args.repo)
    root = Path(repo.working_tree_dir or args.repo)
    reaped = reap(root, _store(args, root))
    console.print(
        f"perfgate gc: {reaped.summary() or 'nothing left behind by killed gates'}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return Outcome.OK
