"""The XMPP client's stream reader and SASL choice, over a real socket pair (no server needed)."""

from __future__ import annotations

import socket
import threading

import pytest

from perfgate.reference.xmppclient import NS_SASL, XmlStream, XmppError, address, choose_mechanism, tag

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='s1' version='1.0'>"
)
FEATURES = (
    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    b"<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
)


def test_stanzas_split_across_reads_come_out_whole_and_in_order() -> None:
    client, server = socket.socketpair()
    with client, server:
        stream = XmlStream(client, "localhost")
        wire = HEADER + FEATURES + b"<message from='a@b'><body>hi &amp; bye</body></message><presence/>"
        # A byte per write from a thread (a socket pair holds only so many tiny writes): the parser
        # keeps its state across reads.
        writer = threading.Thread(target=lambda: [server.sendall(wire[i : i + 1]) for i in range(len(wire))])
        writer.start()
        features = stream.open()
        assert server.recv(4096).startswith(b"<?xml version='1.0'?><stream:stream to=\"localhost\"")
        assert [m.text for m in features.iter(tag(NS_SASL, "mechanism"))] == ["SCRAM-SHA-1", "PLAIN"]
        message = stream.read()
        assert message.get("from") == "a@b" and message.findtext("{jabber:client}body") == "hi & bye"
        assert stream.read().tag == "{jabber:client}presence"
        assert stream.root is not None and len(stream.root) == 0  # handed-out stanzas are not kept
        writer.join()


def test_stream_errors_and_close_end_the_stream() -> None:
    client, server = socket.socketpair()
    with client, server:
        stream = XmlStream(client, "localhost")
        server.sendall(
            HEADER + FEATURES + b"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
        )
        stream.open()
        with pytest.raises(XmppError, match="stream error: conflict"):
            stream.read()
        server.sendall(b"</stream:stream>")
        with pytest.raises(XmppError, match="closed"):
            stream.read()


def test_scram_is_preferred_and_plain_only_on_loopback() -> None:
    assert choose_mechanism(["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"], "10.0.0.1") == "SCRAM-SHA-256"
    assert choose_mechanism(["PLAIN"], "127.0.0.1") == "PLAIN"
    with pytest.raises(XmppError, match="no usable SASL mechanism"):
        choose_mechanism(["PLAIN"], "xmpp.example.org")


def test_host_forms() -> None:
    assert address("xmpp://127.0.0.1:5333") == ("127.0.0.1", 5333)
    assert address("http://127.0.0.1:5333") == ("127.0.0.1", 5333)
    assert address("127.0.0.1") == ("127.0.0.1", 5222)
