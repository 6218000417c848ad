"""Locust scenarios that speak client-to-server XMPP (RFC 6120/6121) over TCP.

    locust -f loadtests/xmpp.py --host xmpp://127.0.0.1:5222 --headless -u 10 -r 10 -t 10s

Each ``XmppUser`` opens a session as a seeded account (``user0000``/``pass0000``.., or the
account perfgate hands it from ``[load] credentials``): TCP connect and stream open, SASL
(SCRAM-SHA-256 or SCRAM-SHA-1 through scramp; PLAIN only as a fallback on loopback), stream
restart, resource bind, roster get, initial presence. Then it chats with the contacts it sees
online, changes its presence, and now and then logs out and in again.

Every step is a Locust request event of type ``XMPP``, with ``context=self.context()``:
``connect`` (TCP connect to the server's stream features), ``auth`` (SASL exchange),
``bind``, ``roster`` (the iq round trips), ``presence`` (until the server reflects it back),
``send`` (the write of a chat message; XMPP has no per-message answer) and ``deliver``: the
receiver's latency from the sender's send time, carried in the message as
``<sent xmlns='urn:perfgate:delivery' ns='...'/>``. A failed ``auth`` names the SASL
failure condition (``not-authorized``, ``temporary-auth-failure``, ...).

The host may be written ``xmpp://h:p``, ``h:p`` or ``http://h:p`` (as perfgate passes a
target's address); the XMPP domain is ``PERFGATE_XMPP_DOMAIN`` (default ``localhost``).
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import gevent
from gevent import socket as gsocket
from locust import User, between, task

try:  # imported as a package: loadtests.xmpp, or perfgate.reference.xmpp from an installed perfgate
    from .xmppclient import (
        NS_BIND,
        NS_DELIVERY,
        NS_ROSTER,
        XmlStream,
        XmppError,
        address,
        authenticate,
        choose_mechanism,
        iq,
        next_id,
        sasl_mechanisms,
        tag,
    )
except ImportError:  # plain `locust -f loadtests/xmpp.py` loads this file alone, its folder on sys.path
    from xmppclient import (  # type: ignore[no-redef,import-not-found]
        NS_BIND,
        NS_DELIVERY,
        NS_ROSTER,
        XmlStream,
        XmppError,
        address,
        authenticate,
        choose_mechanism,
        iq,
        next_id,
        sasl_mechanisms,
        tag,
    )

_WORDS = ("hey", "ok", "lunch", "deploy", "soon", "thanks", "meeting", "ping", "done", "why")

# Next seeded account per target host, so every user in this process gets its own.
_ACCOUNTS: defaultdict[str, itertools.count[int]] = defaultdict(itertools.count)


class XmppUser(User):
    """One XMPP client: a session, then chat, presence changes and re-logins."""

    wait_time = between(0.02, 0.1)
    seeded_users: int = int(os.environ.get("PERFGATE_XMPP_USERS", "200"))
    domain: str = os.environ.get("PERFGATE_XMPP_DOMAIN", "localhost")
    timeout_s: float = 5.0
    recv_poll_s: float = 0.5  # the receiver wakes this often to notice a stop

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        given = getattr(self, "perfgate_account", None)  # [load] credentials: perfgate hands each user one
        if given:
            self.account, self.password = given["username"], given["password"]
        else:
            n = next(_ACCOUNTS[self.host or ""]) % self.seeded_users
            self.account, self.password = f"user{n:04d}", f"pass{n:04d}"
        self.server = address(self.host or "")
        self.stream: XmlStream | None = None
        self.receiver: gevent.Greenlet[[XmlStream], None] | None = None
        self.jid = ""
        self.features = ET.Element("none")  # the server's latest stream features
        self.online: set[str] = set()  # bare JIDs of contacts seen available
        self.pending_presence: dict[str, tuple[float, float]] = {}  # id -> (epoch s, perf counter)
        self.away = False
        self.stopping = False

    @property
    def bare_jid(self) -> str:
        return f"{self.account}@{self.domain}"

    # -- lifecycle ----------------------------------------------------------------------

    def on_start(self) -> None:
        self.open_session()

    def on_stop(self) -> None:
        self.stopping = True
        self.close_session()

    def open_session(self) -> bool:
        """connect, auth, bind, roster, presence: each step one request event; False if one failed."""
        self.close_session()
        try:
            stream = self._step("connect", self._connect)
            self.stream = stream
            self._step("auth", lambda: self._auth(stream))
            self._step("bind", lambda: self._bind(stream))
            self._step("roster", lambda: iq(stream, "get", f"<query xmlns='{NS_ROSTER}'/>"))
        except (XmppError, OSError, ValueError):
            self.close_session()
            return False
        self.online.clear()
        self.receiver = gevent.spawn(self._receive, stream)
        self._send_presence(initial=True)
        return True

    def close_session(self) -> None:
        stream, receiver = self.stream, self.receiver
        self.stream = self.receiver = None
        if receiver is not None and receiver is not gevent.getcurrent():
            receiver.kill(block=True, timeout=self.recv_poll_s * 2)
        if stream is not None:
            stream.close()
        self.pending_presence.clear()

    def _step(self, name: str, action: Any) -> Any:
        start_s, t0 = time.time(), time.perf_counter()
        try:
            result = action()
        except (XmppError, OSError, ValueError) as exc:
            self._fire(name, start_s, (time.perf_counter() - t0) * 1000, 0, exc)
            raise
        self._fire(name, start_s, (time.perf_counter() - t0) * 1000, 0)
        return result

    def _connect(self) -> XmlStream:
        sock = gsocket.create_connection(self.server, timeout=self.timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # chat is small writes: no Nagle delays
        stream = XmlStream(sock, self.domain)
        try:
            self.features = stream.open()
        except BaseException:
            sock.close()
            raise
        return stream

    def _auth(self, stream: XmlStream) -> None:
        mechanism = choose_mechanism(sasl_mechanisms(self.features), self.server[0])
        authenticate(stream, mechanism, self.account, self.password)
        self.features = stream.open()  # the stream restart after SASL

    def _bind(self, stream: XmlStream) -> None:
        resource = next_id("perfgate-")
        answer = iq(stream, "set", f"<bind xmlns='{NS_BIND}'><resource>{resource}</resource></bind>")
        jid = answer.find(f"{tag(NS_BIND, 'bind')}/{tag(NS_BIND, 'jid')}")
        self.jid = jid.text if jid is not None and jid.text else f"{self.bare_jid}/{resource}"

    # -- tasks --------------------------------------------------------------------------

    @task(5)
    def send(self) -> None:
        if self.stream is None and not self.open_session():
            return
        assert self.stream is not None
        to = random.choice(tuple(self.online)) if self.online else self.bare_jid
        body = escape(" ".join(random.choices(_WORDS, k=random.randint(2, 12))))
        sent_ns = time.time_ns()
        stanza = (
            f"<message to={quoteattr(to)} type='chat' id='{next_id('m')}'><body>{body}</body>"
            f"<sent xmlns='{NS_DELIVERY}' ns='{sent_ns}'/></message>"
        )
        self._write("send", stanza)

    @task(1)
    def presence(self) -> None:
        if self.stream is None and not self.open_session():
            return
        self.away = not self.away
        self._send_presence()

    @task(1)
    def relogin(self) -> None:
        self.open_session()

    def _send_presence(self, initial: bool = False) -> None:
        presence_id = next_id("p")
        show = "<show>away</show>" if self.away and not initial else ""
        self.pending_presence[presence_id] = (time.time(), time.perf_counter())
        if not self._write("", f"<presence id='{presence_id}'>{show}</presence>"):
            start_s, t0 = self.pending_presence.pop(presence_id, (time.time(), time.perf_counter()))
            self._fire("presence", start_s, (time.perf_counter() - t0) * 1000, 0, XmppError("stream lost"))

    def _write(self, name: str, stanza: str) -> bool:
        """Write one stanza; ``name``: report the write as that request. A dead stream is dropped."""
        stream = self.stream
        if stream is None:
            return False
        start_s, t0 = time.time(), time.perf_counter()
        try:
            stream.send(stanza)
        except OSError as exc:
            if name:
                self._fire(name, start_s, (time.perf_counter() - t0) * 1000, 0, exc)
            self.close_session()
            return False
        if name:
            self._fire(name, start_s, (time.perf_counter() - t0) * 1000, len(stanza))
        return True

    # -- the receiver -------------------------------------------------------------------

    def _receive(self, stream: XmlStream) -> None:
        """Read stanzas until the stream dies, the user stops, or a new session replaces it."""
        stream.sock.settimeout(self.recv_poll_s)
        try:
            while self.stream is stream and not self.stopping and not self._dead():
                try:
                    stanza = stream.read()
                except TimeoutError:
                    continue
                except (OSError, XmppError):
                    break
                self._on_stanza(stanza)
        finally:
            if self.stream is stream:  # the stream died under us: a new session on the next task
                self.stream = self.receiver = None
                stream.sock.close()

    def _dead(self) -> bool:
        g = self._greenlet
        return g is not None and g.dead

    def _on_stanza(self, stanza: ET.Element) -> None:
        kind = stanza.tag.rpartition("}")[2]
        if kind == "message":
            sent = stanza.find(tag(NS_DELIVERY, "sent"))
            if sent is not None and (sent_ns := sent.get("ns", "")).isdigit():
                ns = int(sent_ns)
                self._fire("deliver", ns / 1e9, (time.time_ns() - ns) / 1e6, len(ET.tostring(stanza)))
        elif kind == "presence":
            self._on_presence(stanza)

    def _on_presence(self, stanza: ET.Element) -> None:
        sender = stanza.get("from", "")
        if sender == self.jid:
            pending = self.pending_presence.pop(stanza.get("id", ""), None)
            if pending is not None:
                self._fire("presence", pending[0], (time.perf_counter() - pending[1]) * 1000, 0)
            return
        bare = sender.partition("/")[0]
        if bare and bare != self.bare_jid:
            if stanza.get("type") == "unavailable":
                self.online.discard(bare)
            elif stanza.get("type") is None:
                self.online.add(bare)

    def _fire(
        self, name: str, start_s: float, elapsed_ms: float, length: int, exc: BaseException | None = None
    ) -> None:
        self.environment.events.request.fire(
            request_type="XMPP",
            name=name,
            start_time=start_s,
            response_time=elapsed_ms,
            response_length=length,
            response=None,
            exception=exc,
            context=self.context(),
        )
