"""Result stores: the embedded local store and the shared S3 store share one interface."""

from perfgate.store.local import LocalStore, new_run_id
from perfgate.store.location import is_remote, open_existing_store, open_store

__all__ = ["LocalStore", "is_remote", "new_run_id", "open_existing_store", "open_store"]
