"""XMPP client-to-server plumbing (RFC 6120): the XML stream, SASL and iq, with no Locust in it.

``loadtests/xmpp.py`` and ``loadtests/xmppstorm.py`` build on it; tests use it without Locust
(which monkey-patches the process that imports it). The stream is read through the stdlib's
incremental ``XMLPullParser``; SCRAM is scramp's.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import xml.etree.ElementTree as ET
from collections import deque
from typing import Any, cast
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from scramp import ScramClient

NS_STREAM = "http://etherx.jabber.org/streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_ROSTER = "jabber:iq:roster"
NS_DELIVERY = "urn:perfgate:delivery"
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-1")  # best first
LOOPBACK = ("127.0.0.1", "::1", "localhost")

_IDS = itertools.count(1)


def next_id(prefix: str) -> str:
    """A stanza id unique in this process."""
    return f"{prefix}{next(_IDS)}"


class XmppError(Exception):
    """The server refused a step, closed the stream, or answered something unexpected."""


def tag(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def address(host: str, default_port: int = 5222) -> tuple[str, int]:
    """``xmpp://h:p``, ``http://h:p`` or ``h:p`` -> (h, p)."""
    parts = urlsplit(host if "//" in host else f"//{host}")
    if not parts.hostname:
        raise ValueError(f"--host: no host name in {host!r}")
    return parts.hostname, parts.port or default_port


class XmlStream:
    """One XMPP stream over a socket: stanzas written whole, read back one top-level element at a
    time through the stdlib's incremental parser (a new one for every stream restart)."""

    def __init__(self, sock: Any, domain: str):
        self.sock = sock
        self.domain = domain
        self.parser: ET.XMLPullParser[ET.Element] | None = None
        self.depth = 0
        self.root: ET.Element | None = None
        self.ready: deque[ET.Element] = deque()
        self.closed = False  # the server ended its stream

    def open(self) -> ET.Element:
        """Send a stream header and return the server's ``<stream:features>``."""
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth, self.root, self.closed = 0, None, False
        self.ready.clear()
        self.send(
            f"<?xml version='1.0'?><stream:stream to={quoteattr(self.domain)} version='1.0' "
            "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        )
        features = self.read()
        if features.tag != tag(NS_STREAM, "features"):
            raise XmppError(f"expected stream features, got {features.tag}")
        return features

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def read(self) -> ET.Element:
        """The next complete top-level element; XmppError when the stream ends or fails."""
        while not self.ready:
            if self.closed:
                raise XmppError("stream closed by the server")
            data = self.sock.recv(65536)
            if not data:
                raise XmppError("connection closed by the server")
            self._feed(data)
        element = self.ready.popleft()
        if element.tag == tag(NS_STREAM, "error"):
            condition = element[0].tag.rpartition("}")[2] if len(element) else "unknown"
            raise XmppError(f"stream error: {condition}")
        return element

    def _feed(self, data: bytes) -> None:
        assert self.parser is not None
        try:
            self.parser.feed(data)
            events = list(self.parser.read_events())
        except ET.ParseError as exc:
            raise XmppError(f"malformed XML from the server: {exc}") from None
        for event, element in cast(list[tuple[str, ET.Element]], events):  # only start/end were asked for
            if event == "start":
                self.depth += 1
                if self.depth == 1:
                    self.root = element
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.ready.append(element)
                    if self.root is not None:
                        self.root.remove(element)  # a long stream keeps nothing it has handed out
                elif self.depth == 0:
                    self.closed = True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("</stream:stream>")
        self.sock.close()


def sasl_mechanisms(features: ET.Element) -> list[str]:
    found = features.find(tag(NS_SASL, "mechanisms"))
    return [m.text or "" for m in found.findall(tag(NS_SASL, "mechanism"))] if found is not None else []


def choose_mechanism(offered: list[str], server_host: str) -> str:
    """The best SCRAM the server offers; PLAIN only on loopback (the password travels in clear)."""
    for mechanism in SCRAM_MECHANISMS:
        if mechanism in offered:
            return mechanism
    if "PLAIN" in offered and server_host in LOOPBACK:
        return "PLAIN"
    raise XmppError(f"no usable SASL mechanism among {offered}")


def _b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode() or "="


def _unb64(element: ET.Element) -> str:
    return base64.b64decode(element.text or "").decode()


def _sasl_answer(stream: XmlStream, expected: str) -> ET.Element:
    answer = stream.read()
    if answer.tag == tag(NS_SASL, "failure"):
        condition = answer[0].tag.rpartition("}")[2] if len(answer) else "failure"
        raise XmppError(condition)
    if answer.tag != tag(NS_SASL, expected):
        raise XmppError(f"expected SASL {expected}, got {answer.tag}")
    return answer


def authenticate(stream: XmlStream, mechanism: str, username: str, password: str) -> None:
    """One SASL exchange (RFC 6120 section 6); raises XmppError named by the failure condition."""
    auth = f"<auth xmlns='{NS_SASL}' mechanism='{mechanism}'>"
    if mechanism == "PLAIN":
        plain = f"\0{username}\0{password}"
        stream.send(f"{auth}{_b64(plain)}</auth>")
        _sasl_answer(stream, "success")
        return
    client = ScramClient([mechanism], username, password)
    stream.send(f"{auth}{_b64(client.get_client_first())}</auth>")
    client.set_server_first(_unb64(_sasl_answer(stream, "challenge")))
    stream.send(f"<response xmlns='{NS_SASL}'>{_b64(client.get_client_final())}</response>")
    client.set_server_final(_unb64(_sasl_answer(stream, "success")))  # checks the server's signature


def iq(stream: XmlStream, kind: str, payload: str) -> ET.Element:
    """Send an iq and read up to its answer (stanzas before it are not expected during setup)."""
    iq_id = next_id("iq")
    stream.send(f"<iq type='{kind}' id='{iq_id}'>{payload}</iq>")
    while True:
        answer = stream.read()
        if answer.tag.endswith("}iq") and answer.get("id") == iq_id:
            if answer.get("type") != "result":
                raise XmppError(f"iq {kind} failed: {ET.tostring(answer)[:200]!r}")
            return answer
