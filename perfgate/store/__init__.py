"""Result stores: the embedded local store and the shared S3 store share one interface."""

from perfgate.store.local import LocalStore, new_run_id

__all__ = ["LocalStore", "new_run_id", "open_store"]


def open_store(location: str, root=None) -> LocalStore:
    """Open the store at ``location``: a directory (relative to ``root``)."""
    from pathlib import Path

    path = Path(location)
    if not path.is_absolute() and root is not None:
        path = Path(root) / path
    return LocalStore(path)
