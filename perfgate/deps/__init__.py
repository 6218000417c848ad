"""Dependencies of a scenario that perfgate runs for real: a MariaDB primary and replica.

Public API (re-exported here): :class:`MariaDbPair`, :class:`MariaDbServer`,
:class:`MariaDbSettings`, :class:`MariaDbError`, :func:`find_binaries`, and the
acknowledged-write reconciliation in :mod:`perfgate.deps.reconcile`.
"""

from perfgate.deps.mariadb import (
    MariaDbError,
    MariaDbPair,
    MariaDbServer,
    MariaDbSettings,
    find_binaries,
)
from perfgate.deps.reconcile import (
    AckKey,
    Reconciliation,
    query_stored_keys,
    read_ack_log,
    reconcile,
)

__all__ = [
    "AckKey",
    "MariaDbError",
    "MariaDbPair",
    "MariaDbServer",
    "MariaDbSettings",
    "Reconciliation",
    "find_binaries",
    "query_stored_keys",
    "read_ack_log",
    "reconcile",
]
