"""Reconcile the writes the load saw acknowledged against the rows in the database.

A message is identified by its deterministic key ``(sender, client_sent_ns)``: the load
chooses ``client_sent_ns`` and the service stores it with the row. The Locust ChatUser
appends one line per acknowledged send (HTTP 200 from ``POST /messages``) to the file
named by ``PERFGATE_ACK_LOG``::

    <host>\\t<sender>\\t<client_sent_ns>\\t<message id>

After the run, :func:`query_stored_keys` reads the keys from the primary and
:func:`reconcile` compares them: an acknowledged key that is missing is a lost write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from perfgate.errors import TargetError

ACK_LOG_ENV = "PERFGATE_ACK_LOG"


@dataclass(frozen=True, slots=True, order=True)
class AckKey:
    """The identity of one message: who sent it and the sender's own timestamp."""

    sender: str
    client_sent_ns: int

    def __str__(self) -> str:
        return f"{self.sender}:{self.client_sent_ns}"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """How the acknowledged writes compare with what the database holds."""

    acknowledged: int  # distinct keys the load saw acknowledged
    found: int  # of those, how many are in the database
    lost: list[AckKey] = field(default_factory=list)  # acknowledged but missing
    duplicates: list[AckKey] = field(default_factory=list)  # stored more than once
    unacknowledged_stored: int = 0  # stored, but the client saw no 200 (e.g. timed out)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicates

    def to_json(self) -> dict[str, object]:
        return {
            "acknowledged": self.acknowledged,
            "found": self.found,
            "lost": [str(k) for k in self.lost],
            "duplicates": [str(k) for k in self.duplicates],
            "unacknowledged_stored": self.unacknowledged_stored,
        }


def reconcile(acknowledged: Iterable[AckKey], stored: Iterable[AckKey]) -> Reconciliation:
    """Pure comparison of acknowledged keys with stored keys (rows, duplicates included)."""
    acked = set(acknowledged)
    counts = Counter(stored)
    lost = sorted(k for k in acked if counts[k] == 0)
    return Reconciliation(
        acknowledged=len(acked),
        found=len(acked) - len(lost),
        lost=lost,
        duplicates=sorted(k for k, n in counts.items() if n > 1),
        unacknowledged_stored=sum(1 for k in counts if k not in acked),
    )


def format_ack_line(host: str, sender: str, client_sent_ns: int, message_id: object) -> str:
    """One line of the ack log (what the load writes per acknowledged send)."""
    return f"{host}\t{sender}\t{client_sent_ns}\t{message_id}\n"


def read_ack_log(path: Path, host: str | None = None) -> list[AckKey]:
    """The acknowledged keys in an ack log, only those sent to ``host`` if given.

    A torn last line (the writer was killed mid-write) is skipped.
    """
    keys: list[AckKey] = []
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return keys
    except OSError as exc:
        raise TargetError(f"[reconcile] cannot read ack log {path}: {exc}") from exc
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        if host is None or parts[0] == host:
            keys.append(AckKey(parts[1], int(parts[2])))
    return keys


def query_stored_keys(
    port: int, user: str, password: str, database: str, host: str = "127.0.0.1", timeout_s: float = 10.0
) -> list[AckKey]:
    """Every stored message's key, one per row (so duplicates show), from a MariaDB server."""
    try:
        conn = pymysql.connect(
            host=host,
            port=port,
            user=user,
            password=password,
            database=database,
            connect_timeout=timeout_s,
            read_timeout=timeout_s * 3,
            write_timeout=timeout_s,
        )
    except pymysql.MySQLError as exc:
        raise TargetError(f"[reconcile] cannot connect to {host}:{port}: {exc}") from exc
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT sender, client_sent_ns FROM messages")
            return [AckKey(str(sender), int(ns)) for sender, ns in cur.fetchall()]
    except pymysql.MySQLError as exc:
        raise TargetError(f"[reconcile] cannot read messages on {host}:{port}: {exc}") from exc
    finally:
        conn.close()
