"""Locust scenarios for the reference IM service (``loadtests/imserver``).

    locust -f loadtests/im.py --host http://127.0.0.1:PORT --headless -u 10 -r 10 -t 10s

Each ChatUser logs in as a seeded account (or as the account perfgate hands it from
``[load] credentials``), keeps a WebSocket open, and chats with
whoever is online. Besides Locust's HTTP requests (``login``, ``send``,
``history``), it reports ``WS ws_connect`` and ``WS deliver``: the end-to-end
latency from a sender's ``POST /messages`` to the message arriving on the
recipient's socket. perfgate may subclass ChatUser with another ``host`` and
``context()``; every event fired here carries ``context=self.context()``.

If ``PERFGATE_ACK_LOG`` names a file, every acknowledged send (HTTP 200) appends
one line ``<host>\t<sender>\t<client_sent_ns>\t<id>`` to it, so that perfgate can
check afterwards that no acknowledged message was lost (``perfgate.deps.reconcile``).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections import defaultdict
from typing import Any

import gevent
import websocket
from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

# Next seeded account per target host, so every user in this process gets its own.
_ACCOUNTS: defaultdict[str, itertools.count[int]] = defaultdict(itertools.count)

ACK_LOG_ENV = "PERFGATE_ACK_LOG"
_ack_log: tuple[str, int] | None = None  # (path, fd) of this process's ack log

_WORDS = ("hey", "ok", "lunch", "deploy", "soon", "thanks", "meeting", "ping", "done", "why")


def ws_url(host: str, token: str) -> str:
    """``http://h:p`` -> ``ws://h:p/ws?token=...`` (https becomes wss)."""
    base = host.rstrip("/")
    scheme, sep, rest = base.partition("://")
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest if sep else base}/ws?token={token}"


def log_ack(host: str, sender: str, client_sent_ns: int, message_id: object) -> None:
    """Append one acknowledged send to the ack log, if one is configured.

    One ``write`` to an ``O_APPEND`` file per line, so several load processes can share it.
    """
    global _ack_log
    path = os.environ.get(ACK_LOG_ENV)
    if not path:
        return
    if _ack_log is None or _ack_log[0] != path:
        if _ack_log is not None:
            os.close(_ack_log[1])
        _ack_log = (path, os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    os.write(_ack_log[1], f"{host}\t{sender}\t{client_sent_ns}\t{message_id}\n".encode())


class ChatUser(FastHttpUser):
    # Short thinks: a round of 10 s then holds the ~1,000 sends and ~200 logins per side that
    # its p99 and p95 need (10 requests beyond the quantile), at about half of a 2-core machine.
    wait_time = between(0.02, 0.1)
    seeded_users: int = int(os.environ.get("PERFGATE_IM_USERS", "200"))
    ext_share: float = 0.0  # fraction of sends addressed to the external network (ext:*)
    connect_timeout_s: float = 5.0
    recv_poll_s: float = 0.5  # the receiver wakes this often to notice a stop

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        given = getattr(self, "perfgate_account", None)  # [load] credentials: perfgate hands each user one
        if given:
            self.account, self.password = given["username"], given["password"]
        else:
            n = next(_ACCOUNTS[self.host or ""]) % self.seeded_users
            self.account, self.password = f"user{n:04d}", f"pass{n:04d}"
        self.token: str | None = None
        self.ws: websocket.WebSocket | None = None
        self.receiver: gevent.Greenlet[[websocket.WebSocket], None] | None = None
        self.online: set[str] = set()
        self.status = "online"
        self.stopping = False

    # -- lifecycle -------------------------------------------------------

    def on_start(self) -> None:
        self._ensure_session()

    def on_stop(self) -> None:
        self.stopping = True
        self._close_ws()

    def _ensure_session(self) -> bool:
        """Log in and connect if needed (also after a server restart)."""
        if self.token is None and not self.login():
            return False
        if self.ws is None:
            self._connect_ws()
        return self.token is not None

    # -- tasks ---------------------------------------------------------------

    @task(5)
    def send(self) -> None:
        if not self._ensure_session():
            return
        to, name = self._peer(), "send"
        if self.ext_share and random.random() < self.ext_share:
            to, name = f"ext:{to}", "send_ext"
        body = " ".join(random.choices(_WORDS, k=random.randint(2, 12)))
        sent_ns = time.time_ns()
        payload = {"to": to, "body": body, "client_sent_ns": sent_ns}
        resp = self.client.post("/messages", json=payload, headers=self._auth(), name=name)
        self._check_auth(resp.status_code)
        if resp.status_code == 200:
            try:
                message_id = resp.json().get("id")
            except (ValueError, AttributeError):
                message_id = None
            log_ack(self.host or "", self.account, sent_ns, message_id)

    @task(2)
    def history(self) -> None:
        if not self._ensure_session():
            return
        path = f"/history?with={self._peer()}&limit=50"
        resp = self.client.get(path, headers=self._auth(), name="history")
        self._check_auth(resp.status_code)

    @task(1)
    def presence(self) -> None:
        if not self._ensure_session() or self.ws is None:
            return
        self.status = "away" if self.status == "online" else "online"
        try:
            self.ws.send(json.dumps({"type": "presence", "status": self.status}))
        except (OSError, websocket.WebSocketException):
            self._close_ws()

    @task(1)
    def relogin(self) -> None:
        self.login()

    # -- HTTP ------------------------------------------------------------------

    def login(self) -> bool:
        creds = {"user": self.account, "password": self.password}
        resp = self.client.post("/login", json=creds, name="login")
        if resp.status_code != 200:
            return False  # Locust has already counted the failure
        self.token = resp.json()["token"]
        return True

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _check_auth(self, status: int) -> None:
        if status == 401:
            self.token = None  # log in again on the next task

    def _peer(self) -> str:
        return random.choice(tuple(self.online)) if self.online else self.account

    # -- WebSocket ---------------------------------------------------------------

    def _fire(
        self, name: str, start_s: float, elapsed_ms: float, length: int, exc: BaseException | None = None
    ) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            start_time=start_s,
            response_time=elapsed_ms,
            response_length=length,
            response=None,
            exception=exc,
            context=self.context(),
        )

    def _connect_ws(self) -> None:
        assert self.token is not None and self.host
        start_s, t0 = time.time(), time.perf_counter()
        try:
            ws = websocket.create_connection(ws_url(self.host, self.token), timeout=self.connect_timeout_s)
        except (OSError, websocket.WebSocketException) as exc:
            self._fire("ws_connect", start_s, (time.perf_counter() - t0) * 1000, 0, exc)
            self.token = None  # perhaps stale (server restarted): log in again next time
            return
        self._fire("ws_connect", start_s, (time.perf_counter() - t0) * 1000, 0)
        ws.settimeout(self.recv_poll_s)
        self.ws = ws
        self.receiver = gevent.spawn(self._receive, ws)

    def _close_ws(self) -> None:
        """Stop the receiver (the socket's only reader), then close the handshake properly."""
        ws, receiver = self.ws, self.receiver
        self.ws = self.receiver = None
        if receiver is not None and receiver is not gevent.getcurrent():
            receiver.kill(block=True, timeout=self.recv_poll_s * 2)
        if ws is not None:
            ws.close(timeout=1)

    def _receive(self, ws: websocket.WebSocket) -> None:
        """Read frames until the socket dies, the user stops, or a new socket replaces it."""
        try:
            while ws.connected and self.ws is ws and not self.stopping and not self._dead():
                try:
                    raw = ws.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                except (OSError, websocket.WebSocketException):
                    break
                if isinstance(raw, str) and raw:
                    self._on_frame(raw)
        finally:
            if self.ws is ws:  # the connection died under us: reconnect on the next task
                self.ws = self.receiver = None
                ws.shutdown()  # type: ignore[no-untyped-call]

    def _dead(self) -> bool:
        g = self._greenlet
        return g is not None and g.dead

    def _on_frame(self, raw: str) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "message" and isinstance(msg.get("client_sent_ns"), int):
            sent_ns = msg["client_sent_ns"]
            self._fire("deliver", sent_ns / 1e9, (time.time_ns() - sent_ns) / 1e6, len(raw))
        elif kind == "roster":
            self.online = set(msg["online"]) - {self.account}
        elif kind == "presence" and msg.get("user") != self.account:
            if msg.get("status") == "offline":
                self.online.discard(msg["user"])
            else:
                self.online.add(msg["user"])
