"""The XMPP login storm: one buggy client fires thousands of SASL logins at once while users chat.

    locust -f loadtests/xmppstorm.py --host xmpp://127.0.0.1:5222 --headless -u 13 -r 13 -t 60s

Two user classes: the steady ``XmppUser`` of ``loadtests/xmpp.py`` and ``XmppStormUser``, one
per host (and side), which drives the storm: ``PERFGATE_STORM_LOGINS`` logins (default 10,000)
as one account (the last seeded one, which steady users leave alone while they are fewer).

The buggy-client model of ``loadtests/storm.py``, in XMPP: every login gets its own connection,
opened and taken to its stream features first (at most ``connect_concurrency`` in flight); at
``PERFGATE_STORM_AT`` seconds after the driver started (or once every connection is open, if
later) one tight loop writes every ``<auth mechanism='PLAIN'>`` (PLAIN: one round trip, on
loopback only) with no greenlet switch in between. Then one greenlet per connection reads the
answer, bounded by ``PERFGATE_STORM_TIMEOUT`` seconds. Logins beyond the descriptors this
process may open are not sent and count as failed (``no descriptor``).

Recorded with the names ``perfgate.faults.storm`` reads back (its windows and impact apply):

- ``XMPP storm_login``: one per login, from its send to its SASL answer; a failure names its
  class (``not-authorized``, ``temporary-auth-failure``, ``timed out``, ``closed``, ...; a
  round that ends first leaves ``storm stopped before the answer``).
- ``STORM storm_connect``: the connect phase in ms, ``response_length`` connections opened.
- ``STORM storm_release``: ``start_time`` the first send, ``response_time`` the release spread
  (first to last send) in ms, ``response_length`` the logins sent.
"""

from __future__ import annotations

import base64
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.pool
from gevent import socket as gsocket
from locust import User, constant, task

try:  # imported as a package: loadtests.xmppstorm, or perfgate.reference.xmppstorm
    from .storm import connection_budget
    from .xmpp import XmppUser
    from .xmppclient import NS_SASL, XmlStream, XmppError, address, tag
except ImportError:  # plain `locust -f loadtests/xmppstorm.py` loads this file alone, its folder on sys.path
    from storm import connection_budget  # type: ignore[no-redef,import-not-found]
    from xmpp import XmppUser  # type: ignore[no-redef,import-not-found]
    from xmppclient import NS_SASL, XmlStream, XmppError, address, tag  # type: ignore[no-redef,import-not-found]

__all__ = ["XmppUser", "XmppStormUser", "StormFigures", "run_xmpp_storm"]


def _env_num(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}: must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class StormFigures:
    planned: int
    connected: int
    connect_start_ns: int
    connect_ms: float
    first_send_ns: int
    last_send_ns: int
    last_answer_ns: int
    sent: int
    ok: int
    failures: dict[str, int]  # by class

    @property
    def spread_ms(self) -> float:
        return (self.last_send_ns - self.first_send_ns) / 1e6

    @property
    def logins_per_s(self) -> float:
        span_s = (self.last_answer_ns - self.first_send_ns) / 1e9
        return self.ok / span_s if span_s > 0 else 0.0


def failure_class(exc: BaseException) -> str:
    if isinstance(exc, XmppError):
        return str(exc).removeprefix("stream error: ")
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__


class _Login:
    __slots__ = ("stream", "sent_ns", "error")

    def __init__(self) -> None:
        self.stream: XmlStream | None = None
        self.sent_ns = 0
        self.error: BaseException | None = None


class _XmppStorm:
    """Connect every login's stream, then one tight loop sends them all; a greenlet per login reads."""

    def __init__(self, server: tuple[str, int], domain: str, account: tuple[str, str], logins: int, report: Any):
        self.server, self.domain, self.logins, self.report = server, domain, logins, report
        plain = base64.b64encode(f"\0{account[0]}\0{account[1]}".encode()).decode()
        self.payload = f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{plain}</auth>".encode()
        self.attempts = [_Login() for _ in range(min(connection_budget(logins), logins))]
        self.released = gevent.event.Event()
        self.gate = gevent.lock.BoundedSemaphore(100)  # connects in flight: below the server's listen backlog
        self.ok = self.last_answer_ns = 0
        self.failures: dict[str, int] = {}

    def run(self, release_at: float, timeout_s: float) -> StormFigures:
        group = gevent.pool.Group()
        connect_start, connect_start_ns = time.perf_counter(), time.time_ns()
        try:
            for attempt in self.attempts:
                group.spawn(self._login, attempt, timeout_s)
            while not all(a.stream is not None or a.error is not None for a in self.attempts):
                gevent.sleep(0.05)
                if time.perf_counter() - connect_start > timeout_s * 2:
                    break
            connect_ms = (time.perf_counter() - connect_start) * 1000
            connected = sum(1 for a in self.attempts if a.stream is not None and a.error is None)
            if (delay := release_at - time.time()) > 0:
                gevent.sleep(delay)
            sent = self._release()
            self.released.set()
            group.join(timeout=timeout_s + 5)
        finally:  # stragglers (or all, if the driver is stopped with its round) report themselves as failed
            group.kill(block=True, timeout=5)
        for _ in range(self.logins - len(self.attempts)):
            self._fail(XmppError("no descriptor"), 0)
        sends = [a.sent_ns for a in self.attempts if a.sent_ns] or [time.time_ns()]
        return StormFigures(
            planned=self.logins,
            connected=connected,
            connect_start_ns=connect_start_ns,
            connect_ms=connect_ms,
            first_send_ns=min(sends),
            last_send_ns=max(sends),
            last_answer_ns=max(self.last_answer_ns, max(sends)),
            sent=sent,
            ok=self.ok,
            failures=self.failures,
        )

    def _release(self) -> int:
        """Every auth written in one pass, no greenlet switch in between."""
        sent = 0
        for attempt in self.attempts:
            if attempt.stream is None or attempt.error is not None:
                continue
            try:
                attempt.stream.sock.sendall(self.payload)
            except OSError as exc:
                attempt.error = exc
                continue
            attempt.sent_ns = time.time_ns()
            sent += 1
        return sent

    def _login(self, attempt: _Login, timeout_s: float) -> None:
        try:
            try:
                with self.gate:
                    sock = gsocket.create_connection(self.server, timeout=timeout_s)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    attempt.stream = XmlStream(sock, self.domain)
                    attempt.stream.open()
            except (OSError, XmppError) as exc:
                attempt.error = exc
            self.released.wait()
            if attempt.error is not None or attempt.stream is None or not attempt.sent_ns:
                raise attempt.error or XmppError("not sent")
            answer = attempt.stream.read()
            if answer.tag != tag(NS_SASL, "success"):
                raise XmppError(answer[0].tag.rpartition("}")[2] if len(answer) else answer.tag)
            self.ok += 1
            self.last_answer_ns = max(self.last_answer_ns, time.time_ns())
            self.report(attempt.sent_ns, time.time_ns(), None)
        except (OSError, XmppError) as exc:
            self._fail(exc, attempt.sent_ns)
        except gevent.GreenletExit:  # stopped before its answer: a failure, not a login that never was
            self._fail(XmppError("storm stopped before the answer"), attempt.sent_ns)
        finally:
            if attempt.stream is not None:
                attempt.stream.sock.close()

    def _fail(self, exc: BaseException, sent_ns: int) -> None:
        kind = failure_class(exc)
        self.failures[kind] = self.failures.get(kind, 0) + 1
        now = time.time_ns()
        self.report(sent_ns or now, now, exc)


def run_xmpp_storm(
    server: tuple[str, int],
    domain: str,
    account: tuple[str, str],
    logins: int,
    report: Any,
    release_at: float = 0.0,
    timeout_s: float = 30.0,
) -> StormFigures:
    """Connect every login's stream, release every PLAIN auth at once, read the answers.

    ``report(sent_ns, done_ns, error)`` is called once per planned login.
    """
    return _XmppStorm(server, domain, account, logins, report).run(release_at, timeout_s)


class XmppStormUser(User):
    """Drives the storm for its host once, then idles."""

    fixed_count = 1
    wait_time = constant(1.0)
    logins: int = int(_env_num("PERFGATE_STORM_LOGINS", 10_000))
    storm_at: float = _env_num("PERFGATE_STORM_AT", 10.0)
    timeout_s: float = _env_num("PERFGATE_STORM_TIMEOUT", 30.0)
    seeded_users: int = int(_env_num("PERFGATE_XMPP_USERS", 200))
    domain: str = os.environ.get("PERFGATE_XMPP_DOMAIN", "localhost")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release_at = time.time() + self.storm_at
        self.figures: StormFigures | None = None

    @task
    def storm(self) -> None:
        if self.figures is not None:
            return
        n = self.seeded_users - 1
        self.figures = figures = run_xmpp_storm(
            address(self.host or ""),
            self.domain,
            (f"user{n:04d}", f"pass{n:04d}"),
            self.logins,
            self._login,
            self.release_at,
            self.timeout_s,
        )
        missing = figures.planned - figures.connected
        self._fire(
            "STORM",
            "storm_connect",
            figures.connect_start_ns,
            figures.connect_ms,
            figures.connected,
            XmppError(f"{missing} of {figures.planned} not connected") if missing else None,
        )
        no_send = None if figures.sent else XmppError("no login was sent")
        self._fire("STORM", "storm_release", figures.first_send_ns, figures.spread_ms, figures.sent, no_send)

    def _login(self, sent_ns: int, done_ns: int, error: BaseException | None) -> None:
        self._fire("XMPP", "storm_login", sent_ns, (done_ns - sent_ns) / 1e6, 0, error)

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
