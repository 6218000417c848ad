"""Storage behind a narrow async interface; SQLite (WAL) is the default backend."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from .auth import PasswordHash

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    sender: str
    recipient: str
    body: str
    client_sent_ns: int
    stored_ns: int

    def to_json(self) -> dict[str, object]:
        return {
            "type": "message",
            "id": self.id,
            "from": self.sender,
            "to": self.recipient,
            "body": self.body,
            "client_sent_ns": self.client_sent_ns,
        }


READ_WRITE = "read-write"
READ_ONLY = "read-only"


class StorageUnavailable(Exception):
    """The database cannot answer now; the service maps this to HTTP 503."""


class ReadOnlyError(StorageUnavailable):
    """Writes are refused because the primary is unavailable (reads still work)."""


@dataclass(frozen=True, slots=True)
class StorageStatus:
    """What /metrics shows about the database: the mode, and when it last changed."""

    mode: str = READ_WRITE
    mode_changes: int = 0
    last_mode_change_ns: int = 0  # wall clock (time.time_ns) of the last change; 0 = never
    errors: int = 0  # database calls that failed


class Storage(Protocol):
    """What the service needs from a database. Every call may block on I/O.

    Calls raise :class:`StorageUnavailable` when the database cannot answer, and
    ``save_message`` raises :class:`ReadOnlyError` while writes are impossible.
    """

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def create_users(self, users: Iterable[tuple[str, PasswordHash]]) -> None: ...
    async def get_user(self, name: str) -> PasswordHash | None: ...
    async def user_work_factors(self) -> dict[str, int]: ...
    async def save_message(self, sender: str, recipient: str, body: str, client_sent_ns: int) -> Message: ...
    async def history(self, a: str, b: str, limit: int) -> list[Message]: ...
    def count_messages(self) -> int: ...
    def status(self) -> StorageStatus: ...


def conversation_key(a: str, b: str) -> str:
    """One key per unordered pair of users, so history is a single index range."""
    return "\x00".join(sorted((a, b)))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, salt BLOB NOT NULL, digest BLOB NOT NULL, log2n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, conv TEXT NOT NULL, sender TEXT NOT NULL,
    recipient TEXT NOT NULL, body TEXT NOT NULL, client_sent_ns INTEGER NOT NULL,
    stored_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conv ON messages (conv, id);
"""


class SqliteStorage:
    """sqlite3 in WAL mode. All calls run on one dedicated thread, off the event loop."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._count = 0

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._db is not None, "storage is not open"
            return fn(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def open(self) -> None:
        def connect() -> int:
            db = sqlite3.connect(self._path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
            return int(db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

        self._count = await asyncio.get_running_loop().run_in_executor(self._pool, connect)

    async def close(self) -> None:
        def disconnect() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._pool, disconnect)
        self._pool.shutdown(wait=True)

    async def create_users(self, users: Iterable[tuple[str, PasswordHash]]) -> None:
        rows = [(name, h.salt, h.digest, h.log2n) for name, h in users]

        def insert(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?)", rows)

        await self._run(insert)

    async def get_user(self, name: str) -> PasswordHash | None:
        def select(db: sqlite3.Connection) -> PasswordHash | None:
            row = db.execute("SELECT salt, digest, log2n FROM users WHERE name = ?", (name,)).fetchone()
            return PasswordHash(row[0], row[1], row[2]) if row else None

        return await self._run(select)

    async def user_work_factors(self) -> dict[str, int]:
        def select(db: sqlite3.Connection) -> dict[str, int]:
            return dict(db.execute("SELECT name, log2n FROM users").fetchall())

        return await self._run(select)

    async def save_message(self, sender: str, recipient: str, body: str, client_sent_ns: int) -> Message:
        stored_ns = time.time_ns()
        row = (conversation_key(sender, recipient), sender, recipient, body, client_sent_ns, stored_ns)

        def insert(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "INSERT INTO messages (conv, sender, recipient, body, client_sent_ns, stored_ns)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cur.lastrowid or 0)

        msg_id = await self._run(insert)
        self._count += 1
        return Message(msg_id, sender, recipient, body, client_sent_ns, stored_ns)

    async def history(self, a: str, b: str, limit: int) -> list[Message]:
        def select(db: sqlite3.Connection) -> list[Message]:
            rows = db.execute(
                "SELECT id, sender, recipient, body, client_sent_ns, stored_ns FROM messages"
                " WHERE conv = ? ORDER BY id DESC LIMIT ?",
                (conversation_key(a, b), limit),
            ).fetchall()
            return [Message(*r) for r in reversed(rows)]

        return await self._run(select)

    def count_messages(self) -> int:
        """Stored messages, kept in memory so /metrics never touches the database."""
        return self._count

    def status(self) -> StorageStatus:
        """A local file is always writable."""
        return StorageStatus()
