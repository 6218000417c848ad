"""MariaDB storage: writes to a primary, reads from a replica, read-only when the primary is gone.

pymysql runs on small thread pools (one per server, one connection per thread), off the
event loop. Every connect, read and write has a short socket timeout, so a dead primary
(connection refused) and a hung one (accepts TCP, never answers) both fail within about
``timeout_s``. The primary's health decides the mode:

* a health checker asks the primary ``SELECT @@read_only`` every ``check_interval_s``;
* a write that fails for lack of a connection also switches to read-only at once;
* in read-only mode ``save_message`` raises :class:`ReadOnlyError` without touching the
  network, and reads (login lookups, history) keep coming from the replica;
* the first good health check switches back to read-write, with fresh connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pymysql
from pymysql.cursors import Cursor

from .auth import PasswordHash
from .storage import (
    READ_ONLY,
    READ_WRITE,
    Message,
    ReadOnlyError,
    StorageStatus,
    StorageUnavailable,
    conversation_key,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Errors that mean "the server is not there", not "the query is wrong".
_UNAVAILABLE = (pymysql.err.OperationalError, pymysql.err.InterfaceError, pymysql.err.InternalError, OSError)

FailoverBug = Literal["hang", "crash", "lose"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users (
        name VARCHAR(191) PRIMARY KEY, salt VARBINARY(64) NOT NULL,
        digest VARBINARY(64) NOT NULL, log2n INT NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE IF NOT EXISTS messages (
        id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, conv VARCHAR(400) NOT NULL,
        sender VARCHAR(191) NOT NULL, recipient VARCHAR(191) NOT NULL, body TEXT NOT NULL,
        client_sent_ns BIGINT NOT NULL, stored_ns BIGINT NOT NULL,
        KEY messages_conv (conv, id), KEY messages_key (sender, client_sent_ns)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


@dataclass(frozen=True, slots=True)
class MariaDbConfig:
    primary: tuple[str, int]
    replica: tuple[str, int] | None = None  # None: read from the primary too
    user: str = "im"
    password: str = "im"
    database: str = "im"
    timeout_s: float = 1.0  # connect, read and write timeout of every call
    check_interval_s: float = 0.25
    pool_size: int = 4
    replica_wait_s: float = 10.0  # at startup, wait this long for the replica to catch up
    # TEST FIXTURE, never for real use: a deliberately broken failover, for perfgate's
    # own tests to prove the gate catches it. "hang": sends retry until the primary is
    # back; "crash": the process exits when the primary disappears; "lose": sends are
    # acknowledged but dropped while the primary is unavailable.
    failover_bug: FailoverBug | None = None


def _connect(config: MariaDbConfig, address: tuple[str, int], timeout_s: float) -> Any:
    return pymysql.connect(
        host=address[0],
        port=address[1],
        user=config.user,
        password=config.password,
        database=config.database,
        autocommit=True,
        charset="utf8mb4",
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        write_timeout=timeout_s,
    )


class _Endpoint:
    """One server: a thread pool whose threads each keep one connection to it."""

    def __init__(self, name: str, address: tuple[str, int], config: MariaDbConfig, threads: int) -> None:
        self.name = name
        self.address = address
        self._config = config
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"db-{name}")
        self._local = threading.local()
        self._conns: set[Any] = set()
        self._lock = threading.Lock()
        self.generation = 0  # bumped to make every thread reconnect before its next call

    def reset(self) -> None:
        self.generation += 1

    def _conn(self) -> Any:
        conn, gen = getattr(self._local, "conn", None), getattr(self._local, "gen", -1)
        if conn is not None and gen == self.generation:
            return conn
        self._drop()
        conn = _connect(self._config, self.address, self._config.timeout_s)
        with self._lock:
            self._conns.add(conn)
        self._local.conn, self._local.gen = conn, self.generation
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(Exception):  # the socket may be dead already; we only let go of it
                conn.close()

    async def run(self, fn: Callable[[Cursor], T], guard: Callable[[], None] | None = None) -> T:
        """Run ``fn`` on a cursor in a pool thread; connection trouble -> StorageUnavailable."""

        def call() -> T:
            if guard is not None:
                guard()  # checked again in the thread: the call may have queued a while
            try:
                with self._conn().cursor() as cur:
                    return fn(cur)
            except _UNAVAILABLE as exc:
                self._drop()
                raise StorageUnavailable(f"{self.name} unavailable: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(Exception):  # closing a dead socket may fail; nothing to do
                conn.close()


class MariaDbStorage:
    """The Storage protocol on a MariaDB primary and replica, with a read-only mode."""

    def __init__(self, config: MariaDbConfig) -> None:
        self.config = config
        self._primary = _Endpoint("primary", config.primary, config, config.pool_size)
        self._health = _Endpoint("health", config.primary, config, 1)
        self._replica = _Endpoint("replica", config.replica, config, config.pool_size) if config.replica else None
        self._mode = READ_WRITE
        self._mode_changes = 0
        self._last_change_ns = 0
        self._errors = 0
        self._count = 0
        self._checker: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------

    async def open(self) -> None:
        """Create the schema on the primary (which must be up) and start the health checker."""

        def setup(cur: Cursor) -> int:
            for statement in _SCHEMA:
                cur.execute(statement)
            cur.execute("SELECT COUNT(*) FROM messages")
            return int(_one(cur))

        self._count = await self._primary.run(setup)
        self._checker = asyncio.create_task(self._check_loop(), name="db-health")

    async def close(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
        loop = asyncio.get_running_loop()
        for endpoint in (self._primary, self._health, self._replica):
            if endpoint is not None:
                await loop.run_in_executor(None, endpoint.close)

    # -- mode --------------------------------------------------------------------

    def status(self) -> StorageStatus:
        return StorageStatus(self._mode, self._mode_changes, self._last_change_ns, self._errors)

    def _set_mode(self, mode: str, reason: str) -> None:
        """Switch modes (on the event loop only); connections to the primary start afresh."""
        if mode == self._mode:
            return
        self._mode = mode
        self._mode_changes += 1
        self._last_change_ns = time.time_ns()
        self._primary.reset()
        log.warning("database mode is now %s: %s", mode, reason)
        if mode == READ_ONLY and self.config.failover_bug == "crash":  # TEST FIXTURE
            log.critical("failover bug 'crash' (test fixture): exiting on primary loss")
            os._exit(3)

    async def _probe(self) -> str | None:
        """None if the primary takes writes, else why not."""

        def ask(cur: Cursor) -> int:
            cur.execute("SELECT @@global.read_only")
            return int(_one(cur))

        try:
            read_only = await asyncio.wait_for(self._health.run(ask), self.config.timeout_s * 4)
        except StorageUnavailable as exc:
            return str(exc)
        except TimeoutError:
            return "primary health check timed out"
        return "primary is read_only" if read_only else None

    async def _check_loop(self) -> None:
        while True:
            problem = await self._probe()
            if problem is None:
                self._set_mode(READ_WRITE, "primary answers health checks")
            else:
                self._set_mode(READ_ONLY, problem)
            await asyncio.sleep(self.config.check_interval_s)

    def _writable(self) -> None:
        if self._mode != READ_WRITE:
            raise ReadOnlyError("read-only: primary unavailable")

    # -- reads -------------------------------------------------------------------

    async def _read(self, fn: Callable[[Cursor], T]) -> T:
        """From the replica; from the primary if there is none or it fails (and the primary is up)."""
        endpoints = [e for e in (self._replica, self._primary) if e is not None]
        error: StorageUnavailable | None = None
        for endpoint in endpoints:
            if endpoint is self._primary and self._replica and self._mode != READ_WRITE:
                break  # the primary is known to be down: do not wait on it
            try:
                return await endpoint.run(fn)
            except StorageUnavailable as exc:
                self._errors += 1
                error = exc
        raise error or StorageUnavailable("no database reachable")

    async def get_user(self, name: str) -> PasswordHash | None:
        def select(cur: Cursor) -> PasswordHash | None:
            cur.execute("SELECT salt, digest, log2n FROM users WHERE name = %s", (name,))
            row = cur.fetchone()
            return PasswordHash(bytes(row[0]), bytes(row[1]), int(row[2])) if row else None

        found = await self._read(select)
        if found is None and self._replica is not None and self._mode == READ_WRITE:
            try:  # the replica may lag behind a user created a moment ago
                found = await self._primary.run(select)
            except StorageUnavailable:
                self._errors += 1
        return found

    async def history(self, a: str, b: str, limit: int) -> list[Message]:
        def select(cur: Cursor) -> list[Message]:
            cur.execute(
                "SELECT id, sender, recipient, body, client_sent_ns, stored_ns FROM messages"
                " WHERE conv = %s ORDER BY id DESC LIMIT %s",
                (conversation_key(a, b), limit),
            )
            return [Message(int(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5])) for r in reversed(cur.fetchall())]

        return await self._read(select)

    def count_messages(self) -> int:
        return self._count

    # -- writes (primary) ----------------------------------------------------------

    async def user_work_factors(self) -> dict[str, int]:
        def select(cur: Cursor) -> dict[str, int]:
            cur.execute("SELECT name, log2n FROM users")
            return {str(name): int(log2n) for name, log2n in cur.fetchall()}

        return await self._primary.run(select)

    async def create_users(self, users: Iterable[tuple[str, PasswordHash]]) -> None:
        rows = [(name, h.salt, h.digest, h.log2n) for name, h in users]

        def insert(cur: Cursor) -> str:
            if rows:
                cur.executemany(
                    "INSERT INTO users (name, salt, digest, log2n) VALUES (%s, %s, %s, %s)"
                    " ON DUPLICATE KEY UPDATE salt = VALUES(salt), digest = VALUES(digest),"
                    " log2n = VALUES(log2n)",
                    rows,
                )
            cur.execute("SELECT @@gtid_binlog_pos")
            return str(_one(cur))

        position = await self._primary.run(insert)
        if self._replica is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._wait_replica, position)

    def _wait_replica(self, position: str) -> None:
        """Block until the replica has applied ``position`` (bounded), so logins work there."""
        wait = self.config.replica_wait_s
        assert self.config.replica is not None
        try:
            conn = _connect(self.config, self.config.replica, wait + self.config.timeout_s)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (position, wait))
                    caught_up = _one(cur) == 0
            finally:
                conn.close()
        except _UNAVAILABLE as exc:
            log.warning("cannot wait for the replica: %s", exc)
            return
        if not caught_up:
            log.warning("replica has not reached %s after %gs; logins may fall back", position, wait)

    async def save_message(self, sender: str, recipient: str, body: str, client_sent_ns: int) -> Message:
        stored_ns = time.time_ns()
        row = (conversation_key(sender, recipient), sender, recipient, body, client_sent_ns, stored_ns)

        def insert(cur: Cursor) -> int:
            cur.execute(
                "INSERT INTO messages (conv, sender, recipient, body, client_sent_ns, stored_ns)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                row,
            )
            return int(cur.lastrowid)

        if self.config.failover_bug == "hang":  # TEST FIXTURE: retries until the primary is back
            msg_id = await self._insert_until_it_works(insert)
        elif self.config.failover_bug == "lose":  # TEST FIXTURE: acknowledges, then drops
            try:
                self._writable()
                msg_id = await self._primary.run(insert, guard=self._writable)
            except StorageUnavailable:
                return Message(0, sender, recipient, body, client_sent_ns, stored_ns)
        else:
            self._writable()  # fail fast in read-only mode: no network at all
            try:
                msg_id = await self._primary.run(insert, guard=self._writable)
            except ReadOnlyError:
                raise
            except StorageUnavailable as exc:
                self._errors += 1
                self._set_mode(READ_ONLY, f"a write failed: {exc}")
                raise ReadOnlyError("read-only: primary unavailable") from exc
        self._count += 1
        return Message(msg_id, sender, recipient, body, client_sent_ns, stored_ns)

    async def _insert_until_it_works(self, insert: Callable[[Cursor], int]) -> int:
        """The 'hang' failover bug (TEST FIXTURE): ignores the mode and never gives up."""
        while True:
            try:
                return await self._primary.run(insert)
            except StorageUnavailable:
                self._errors += 1
                await asyncio.sleep(0.2)


def _one(cur: Cursor) -> Any:
    """The single value a one-row query returns."""
    row = cur.fetchone()
    if row is None:
        raise pymysql.err.InternalError("the query returned no row")
    return row[0]
