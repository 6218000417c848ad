"""The login storm: buggy clients that each fire thousands of logins at once.

    locust -f loadtests/storm.py --host http://127.0.0.1:PORT --headless -u 12 -r 12 -t 60s

One locustfile, two user classes: the steady ``ChatUser`` of ``loadtests/im.py``
and ``StormUser``. One StormUser per host (and side) drives the storm: K clients
(``PERFGATE_STORM_CLIENTS``, default 2), each with N logins
(``PERFGATE_STORM_LOGINS``, default 10,000). Any further StormUser instances idle.

The storm is released like Tsung's ``wait_global``: connect first, then release
together. Each login gets its own pre-opened TCP connection (connect phase, at
most ``connect_concurrency`` connects in flight); when the fd limit (raised soft
to hard) cannot hold them all, connections carry several pipelined logins. At
``PERFGATE_STORM_AT`` seconds after the first StormUser of the process started
(or once every connection is open, if later), one tight loop writes every
``POST /login`` to its raw socket with no greenlet switch in between; then the
barrier (a gevent Event) opens and one greenlet per connection reads the answers,
each bounded by ``PERFGATE_STORM_TIMEOUT`` seconds. The storm fires once; the
driver then idles.

Recorded as Locust request events, each with ``context=self.context()``:

- ``POST storm_login``: one per login; ``start_time`` is the real send time and
  ``response_time`` the time to the full answer. A login whose connection failed
  is reported at the release time with the connect error.
- ``STORM storm_connect``: once per driver; ``response_time`` is the connect
  phase in ms, ``response_length`` the number of connections opened.
- ``STORM storm_release``: once per driver; ``start_time`` is the first send,
  ``response_time`` the release spread (first to last send) in ms,
  ``response_length`` the number of logins sent.

The storm window is recoverable from the samples alone: see
``perfgate.faults.storm.storm_windows``.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.event
import gevent.lock
import gevent.pool
from gevent import socket as gsocket
from locust import User, constant, task

try:  # imported as a package: loadtests.storm, or perfgate.reference.storm from an installed perfgate
    from .im import ChatUser
except ImportError:  # plain `locust -f loadtests/storm.py` loads this file alone, its folder on sys.path
    from im import ChatUser  # type: ignore[no-redef,import-not-found]

__all__ = [
    "ChatUser",
    "StormUser",
    "StormPlan",
    "StormSummary",
    "Login",
    "run_storm",
    "raise_fd_limit",
    "connection_budget",
]


def _env_num(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw.strip() else default
    except ValueError:
        raise ValueError(f"{name}: must be a number, got {raw!r}") from None


class StormError(Exception):
    """A storm login that failed after its connection was opened."""


@dataclass(frozen=True)
class StormPlan:
    host: str  # "127.0.0.1"
    port: int
    logins: int  # per client
    clients: int = 1
    release_at: float = 0.0  # epoch seconds; 0 = as soon as every connection is open
    timeout_s: float = 30.0  # for each login's answer, from the release
    connect_timeout_s: float = 10.0
    connect_phase_s: float = 60.0  # release anyway after this long
    connect_concurrency: int = 100  # connects in flight: stay below the server's listen backlog
    first_account: int = 199  # client k logs in as user{first_account - k}

    @property
    def total(self) -> int:
        return self.logins * self.clients


@dataclass(frozen=True)
class Login:
    """One storm login. ``sent_ns`` is None when its connection never opened."""

    client: int
    sent_ns: int | None
    done_ns: int
    status: int
    length: int
    error: BaseException | None


@dataclass(frozen=True)
class StormSummary:
    planned: int  # logins
    connected: int  # connections opened
    connections: int  # connections planned
    connect_start_ns: int
    connect_end_ns: int
    release_ns: int  # when the barrier was opened
    first_send_ns: int
    last_send_ns: int
    last_answer_ns: int
    sent: int
    ok: int
    failed: int
    first_error: str = ""

    @property
    def spread_ms(self) -> float:
        return (self.last_send_ns - self.first_send_ns) / 1e6

    @property
    def connect_ms(self) -> float:
        return (self.connect_end_ns - self.connect_start_ns) / 1e6

    @property
    def all_answered_ms(self) -> float:
        return (self.last_answer_ns - self.first_send_ns) / 1e6


def raise_fd_limit(want: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to ``want`` (to the hard limit, or past it as root)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard != resource.RLIM_INFINITY and hard < want:
        try:  # needs CAP_SYS_RESOURCE; the kernel caps it at fs.nr_open
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def login_request(host: str, port: int, account: int, close: bool = True) -> bytes:
    body = json.dumps({"user": f"user{account:04d}", "password": f"pass{account:04d}"}).encode()
    head = (
        f"POST /login HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode() + body


def read_response(sock: Any, buf: bytes = b"") -> tuple[int, int, bytes]:
    """Read one HTTP/1.1 response; returns (status, body length, bytes read past it)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise StormError("connection closed before the response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise StormError(f"bad status line {lines[0][:60]!r}") from None
    length = None
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    while length is None or len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            if length is None:
                return status, len(rest), b""  # body delimited by the close
            raise StormError("connection closed inside the body")
        rest += chunk
    return status, length, rest[length:]


def open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 64


def split_logins(logins: int, connections: int) -> list[int]:
    """Logins per connection: as even as possible, every connection carries at least one."""
    connections = max(1, min(logins, connections))
    q, r = divmod(logins, connections)
    return [q + 1] * r + [q] * (connections - r)


def _send(sock: Any, payload: bytes) -> None:
    """Send through the raw socket (4x cheaper than gevent's wrapper); gevent only for leftovers."""
    raw = getattr(sock, "_sock", None)
    done = 0
    if raw is not None:
        with contextlib.suppress(BlockingIOError):
            done = raw.send(payload)
    if done < len(payload):
        sock.sendall(payload[done:])


class _Conn:
    """One pre-opened connection carrying ``len(requests)`` pipelined logins."""

    __slots__ = ("client", "payload", "count", "sock", "sent_ns", "error")

    def __init__(self, client: int, payload: bytes, count: int):
        self.client, self.payload, self.count = client, payload, count
        self.sock: Any = None
        self.sent_ns: int | None = None
        self.error: BaseException | None = None


class _Storm:
    """Connect every socket, then one tight loop sends them all; a greenlet per connection reads."""

    def __init__(self, plan: StormPlan, on_login: Callable[[Login], None], max_connections: int):
        self.plan = plan
        self.on_login = on_login
        self.sent = gevent.event.Event()  # the barrier: set once every login has been sent
        self.all_arrived = gevent.event.Event()
        self.connects = gevent.lock.BoundedSemaphore(max(1, plan.connect_concurrency))
        self.group = gevent.pool.Group()
        self.conns: list[_Conn] = []
        per_client = max(1, max_connections // plan.clients)
        for client in range(plan.clients):
            account = max(plan.first_account - client, 0)
            keep, close = (login_request(plan.host, plan.port, account, c) for c in (False, True))
            for count in split_logins(plan.logins, per_client):
                self.conns.append(_Conn(client, keep * (count - 1) + close, count))
        self.arrived = self.connected = self.ok = self.failed = 0
        self.first_send_ns = self.last_send_ns = self.last_answer_ns = 0
        self.first_error = ""

    def run(self) -> StormSummary:
        plan = self.plan
        connect_start = time.time_ns()
        try:
            for conn in self.conns:
                self.group.spawn(self._connection, conn)
            self.all_arrived.wait(timeout=plan.connect_phase_s)
            connect_end = time.time_ns()
            if (delay := plan.release_at - time.time()) > 0:
                gevent.sleep(delay)
            release_ns = time.time_ns()
            sent = self._send_all()
            self.sent.set()
            self.group.join(timeout=plan.timeout_s + 1.0)
        finally:  # stragglers (or all, if the driver is killed) report themselves as failed
            self.group.kill(block=True, timeout=5.0)
        return StormSummary(
            planned=plan.total,
            connected=self.connected,
            connections=len(self.conns),
            connect_start_ns=connect_start,
            connect_end_ns=connect_end,
            release_ns=release_ns,
            first_send_ns=self.first_send_ns or release_ns,
            last_send_ns=self.last_send_ns or release_ns,
            last_answer_ns=max(self.last_answer_ns, self.last_send_ns),
            sent=sent,
            ok=self.ok,
            failed=self.failed,
            first_error=self.first_error,
        )

    def _send_all(self) -> int:
        """The release: one pass over the open sockets, no greenlet switch in between."""
        sent = 0
        for conn in self.conns:
            if conn.sock is None:
                continue
            now = time.time_ns()
            try:
                _send(conn.sock, conn.payload)
            except OSError as exc:
                conn.error = exc
                continue
            conn.sent_ns = now
            sent += conn.count
        sends = [c.sent_ns for c in self.conns if c.sent_ns is not None]
        if sends:
            self.first_send_ns, self.last_send_ns = sends[0], sends[-1]
        return sent

    def _connection(self, conn: _Conn) -> None:
        plan = self.plan
        try:
            with self.connects:
                sock = gsocket.create_connection((plan.host, plan.port), timeout=plan.connect_timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(plan.timeout_s)
            conn.sock = sock
            self.connected += 1
        except OSError as exc:
            conn.error = exc
        except gevent.GreenletExit:
            conn.error = StormError("storm stopped while connecting")
        finally:
            self.arrived += 1
            if self.arrived == len(self.conns):
                self.all_arrived.set()
        answered = 0
        try:
            self.sent.wait()
            buf = b""
            while conn.sent_ns is not None and answered < conn.count:
                status, length, buf = read_response(conn.sock, buf)
                answered += 1
                error = None if status == 200 else StormError(f"HTTP {status}")
                self._done(Login(conn.client, conn.sent_ns, time.time_ns(), status, length, error))
        except gevent.GreenletExit:
            conn.error = StormError("storm stopped before the answer")
        except (OSError, StormError) as exc:
            conn.error = exc
        finally:
            if conn.sock is not None:
                conn.sock.close()
            now = time.time_ns()
            failed = conn.error or StormError("storm stopped before the send")
            for _ in range(conn.count - answered):
                self._done(Login(conn.client, conn.sent_ns, now, 0, 0, failed))

    def _done(self, login: Login) -> None:
        if login.error is None:
            self.ok += 1
        else:
            self.failed += 1
            self.first_error = self.first_error or f"{type(login.error).__name__}: {login.error}"
        self.last_answer_ns = max(self.last_answer_ns, login.done_ns)
        self.on_login(login)


def connection_budget(want: int, drivers: int = 1, reserve: int = 256) -> int:
    """Sockets one storm driver may open: the raised fd limit, shared by the drivers of this process."""
    drivers = max(1, drivers)
    limit = raise_fd_limit(open_fds() + want * drivers + reserve)
    return max(1, min(want, (limit - open_fds() - reserve) // drivers))


def run_storm(plan: StormPlan, on_login: Callable[[Login], None], max_connections: int = 0) -> StormSummary:
    """Connect, release every login at once, wait for the answers (bounded by ``plan.timeout_s``).

    One connection per login while the fd budget allows (``max_connections``, default
    :func:`connection_budget`); past it, connections carry pipelined logins.
    """
    budget = max_connections or connection_budget(plan.total)
    return _Storm(plan, on_login, min(budget, plan.total)).run()


# -- Locust ------------------------------------------------------------------------

_release_at: float | None = None  # shared by every storm driver of this process
_drivers: set[tuple[str, str]] = set()


def _storm_hosts(user_classes: list[type]) -> int:
    """How many storm drivers this process will run: one per StormUser class (per side)."""
    return sum(1 for c in user_classes if issubclass(c, StormUser)) or 1


class StormUser(User):
    """Drives the storm for its host: one instance per host and side, the others idle."""

    fixed_count = 1
    wait_time = constant(1.0)
    logins: int = int(_env_num("PERFGATE_STORM_LOGINS", 10_000))
    clients: int = int(_env_num("PERFGATE_STORM_CLIENTS", 2))
    storm_at: float = _env_num("PERFGATE_STORM_AT", 10.0)  # s after the first StormUser started
    timeout_s: float = _env_num("PERFGATE_STORM_TIMEOUT", 30.0)
    connect_concurrency: int = 100
    seeded_users: int = int(_env_num("PERFGATE_IM_USERS", 200))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        global _release_at
        if _release_at is None:
            _release_at = time.time() + self.storm_at
        self.release_at = _release_at
        key = (self.host or "", str(self.context().get("side", "")))
        self.driver = key not in _drivers
        _drivers.add(key)
        self.summary: StormSummary | None = None

    @task
    def storm(self) -> None:
        if not self.driver or self.summary is not None:
            return  # fired once already, or not this instance's job: idle
        url = urlsplit(self.host or "")
        if not url.hostname:
            raise ValueError(f"StormUser needs an http://host:port host, got {self.host!r}")
        plan = StormPlan(
            host=url.hostname,
            port=url.port or 80,
            logins=self.logins,
            clients=self.clients,
            release_at=self.release_at,
            timeout_s=self.timeout_s,
            connect_concurrency=self.connect_concurrency,
            first_account=self.seeded_users - 1,
        )
        budget = connection_budget(plan.total, drivers=_storm_hosts(self.environment.user_classes))
        self.summary = summary = run_storm(plan, self._report, budget)
        missing = summary.connections - summary.connected
        self._fire(
            "STORM",
            "storm_connect",
            summary.connect_start_ns,
            summary.connect_ms,
            summary.connected,
            StormError(f"{missing} of {summary.connections} not connected") if missing else None,
        )
        self._fire(
            "STORM",
            "storm_release",
            summary.first_send_ns,
            summary.spread_ms,
            summary.sent,
            None if summary.sent else StormError("no login was sent"),
        )

    def _report(self, login: Login) -> None:
        start_ns = login.sent_ns if login.sent_ns is not None else login.done_ns
        self._fire("POST", "storm_login", start_ns, (login.done_ns - start_ns) / 1e6, login.length, login.error)

    def _fire(
        self, kind: str, name: str, start_ns: int, elapsed_ms: float, length: int, error: BaseException | None
    ) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            start_time=start_ns / 1e9,
            response_time=elapsed_ms,
            response_length=length,
            response=None,
            exception=error,
            context=self.context(),
        )
