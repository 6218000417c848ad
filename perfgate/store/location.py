"""Where a store lives: a local directory, or ``s3://bucket/prefix`` with a local cache."""

from __future__ import annotations

from pathlib import Path

from perfgate.errors import StoreError
from perfgate.store.local import LocalStore


def is_remote(location: str | Path) -> bool:
    return str(location).startswith("s3://")


def open_store(location: str | Path, root: str | Path | None = None) -> LocalStore:
    """The store at ``location``: ``s3://bucket/prefix`` (shared, with a local cache under
    ``root``) or a directory, relative to ``root``."""
    if is_remote(location):
        from perfgate.store.s3 import open_s3_store

        return open_s3_store(str(location), root)  # type: ignore[return-value]  # same interface
    path = Path(location)
    if not path.is_absolute() and root is not None:
        path = Path(root) / path
    return LocalStore(path)


def open_existing_store(location: str | Path) -> LocalStore:
    """The store at ``location`` for commands that read runs: a local one must already be there
    (a mistyped ``--store`` is an error, not an empty store)."""
    if not is_remote(location) and not Path(location).is_dir():
        raise StoreError(f"{location}: no perfgate store here (--store)")
    return open_store(location)
