"""Connections and links: Toxiproxy's link pipeline (its link.go), on asyncio protocols.

Each accepted connection gets an upstream connection and two links:
*upstream* (client → server) and *downstream* (server → client). A link runs
its chunks through the toxics of its stream, in order, one chunk at a time
(so order is kept). With no live toxic a link forwards straight from
``data_received`` to the other transport: that is the fast path.

Toxics can be added, updated and removed while connections are open; a chunk
held by a removed toxic is released at once, never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import struct
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol, cast

from perfgate.faults.toxics import FaultRequestError, Toxic

_QUEUE_LIMIT = 1 << 20  # bytes queued in a link before its source stops reading
SKIP = object()  # a toxic that does not apply to this chunk


def split_hostport(addr: str, key: str = "listen") -> tuple[str, int]:
    """``"127.0.0.1:80"``, ``"[::1]:80"``, ``":80"`` → (host, port); errors name ``key``."""
    host, sep, port = addr.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:  # not "١٢٣"
        raise FaultRequestError(
            f"{key} address {addr!r} must be host:port", error=f"bad request body: {key} must be host:port"
        )
    return host.strip("[]"), int(port)


class Owner(Protocol):
    """What a connection needs from its proxy (:class:`perfgate.faults.proxy.Proxy`)."""

    upstream: str
    rng: random.Random
    loop: asyncio.AbstractEventLoop
    chains: dict[str, list[Toxic]]
    conns: set[Conn]
    received: dict[str, int]  # bytes read from each stream's source (Toxiproxy's /metrics)
    sent: dict[str, int]  # bytes written to each stream's destination


class _Entry:
    """One toxic on one link: its state, its per-connection roll, its removal signal."""

    __slots__ = ("toxic", "link", "state", "active", "removed", "timers")

    def __init__(self, toxic: Toxic, link: _Link) -> None:
        self.toxic = toxic
        self.link = link
        self.removed: asyncio.Future[None] = link.loop.create_future()
        self.timers: list[asyncio.TimerHandle] = []
        self.state: Any = None
        # Toxiproxy rolls toxicity once per connection; "chunk" mode rolls per chunk instead.
        self.active = toxic.toxicity_mode == "connection" and link.rng.random() < toxic.toxicity
        if self.active:
            self.state = toxic.new_state()
            toxic.on_start(self, self.state)

    @property
    def live(self) -> bool:
        """Can this entry affect data at all? (toxicity 0 never does)"""
        return self.active or (self.toxic.toxicity_mode == "chunk" and self.toxic.toxicity > 0)

    def hit(self) -> Any:
        """The state to apply the toxic with for the next chunk, or ``SKIP``."""
        if self.removed.done():
            return SKIP
        if self.active:
            return self.state
        if self.toxic.toxicity_mode == "chunk" and self.link.rng.random() < self.toxic.toxicity:
            state = self.toxic.new_state()
            self.toxic.on_start(self, state)
            return state
        return SKIP

    def remove(self) -> None:
        for h in self.timers:
            h.cancel()
        if not self.removed.done():
            self.removed.set_result(None)

    # --- the Ctx protocol seen by toxics ---
    @property
    def rng(self) -> random.Random:
        return self.link.rng

    def now(self) -> float:
        return self.link.loop.time()

    async def sleep_until(self, deadline: float) -> bool:
        if self.removed.done():
            return False
        delay = deadline - self.link.loop.time()
        if delay <= 0:
            return True
        done, _ = await asyncio.wait([self.removed], timeout=None if math.isinf(delay) else delay)
        return not done

    async def hold(self) -> None:
        await self.sleep_until(math.inf)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.timers.append(self.link.loop.call_later(delay, fn))

    def close(self) -> None:
        self.link.conn.close()

    def reset(self) -> None:
        self.link.conn.close(reset=True)


class _Side(asyncio.Protocol):
    """One socket of a connection: the client's or the upstream's."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.reader: _Link | None = None  # the link fed by this socket
        self.writer: _Link | None = None  # the link writing into this socket
        self.write_paused = False
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport
        if self is self.conn.client:
            self.conn.accepted(self.transport)
        else:
            self.conn.linked()

    def data_received(self, data: bytes) -> None:
        link = self.reader
        if link is not None:
            link.feed(data)
        else:
            self.conn.early(data)

    def eof_received(self) -> bool:
        if self.reader is not None:
            self.reader.feed(None)
        else:
            self.conn.early(None)
        return True  # keep the socket half-open: the other direction goes on

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.lost(self)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.writer is not None:
            self.writer.flow()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        if self.writer is not None:
            self.writer.flow()


class _Link:
    """One direction of a connection: a chain of toxic entries between two sockets."""

    def __init__(self, conn: Conn, stream: str, src: _Side, dst: _Side, toxics: Iterable[Toxic]) -> None:
        self.conn = conn
        self.stream = stream
        self.loop: asyncio.AbstractEventLoop = conn.loop
        self.rng: random.Random = conn.proxy.rng
        self.counts: Owner = conn.proxy
        self.src = src
        self.dst = dst
        src.reader = self
        dst.writer = self
        self.queue: deque[tuple[float, bytes] | None] = deque()
        self.queued = 0
        self.task: asyncio.Task[None] | None = None
        self.reading_paused = False
        self.done = False
        self.entries = [_Entry(t, self) for t in toxics]
        self.bypass = not any(e.live for e in self.entries)

    # --- toxic changes ---
    def add(self, toxic: Toxic) -> None:
        self.entries.append(_Entry(toxic, self))
        self.bypass = not any(e.live for e in self.entries)

    def replace(self, old: str, new: Toxic | None) -> None:
        """Remove toxic ``old`` (releasing what it holds), optionally putting ``new`` in its place."""
        for i, e in enumerate(self.entries):
            if e.toxic.name == old:
                e.remove()
                if new is None:
                    del self.entries[i]
                else:
                    self.entries[i] = _Entry(new, self)
                break
        self.bypass = not any(e.live for e in self.entries)

    # --- data path ---
    def feed(self, data: bytes | None) -> None:
        """A chunk (or EOF as None) read from the source socket."""
        if data:
            self.counts.received[self.stream] += len(data)
        if self.task is None and self.bypass:
            if data is None:
                self.finish()
            else:
                self.dst.transport.write(data)  # type: ignore[union-attr]
                self.counts.sent[self.stream] += len(data)
            return
        self.queue.append(None if data is None else (self.loop.time(), data))
        if data:
            self.queued += len(data)
            if self.queued > _QUEUE_LIMIT:
                self.flow()
        if self.task is None:
            self.task = self.loop.create_task(self._drain())

    def flow(self) -> None:
        """Pause or resume reading the source, by the destination's buffer and our queue."""
        want_pause = self.dst.write_paused or self.queued > _QUEUE_LIMIT
        src = self.src.transport
        if want_pause != self.reading_paused and src is not None and not src.is_closing():
            self.reading_paused = want_pause
            src.pause_reading() if want_pause else src.resume_reading()

    async def _drain(self) -> None:
        try:
            while self.queue and not self.conn.closed:
                item = self.queue.popleft()
                chain = tuple(self.entries)
                if item is None:
                    for e in chain:
                        state = e.hit()
                        if state is not SKIP:
                            await e.toxic.on_eof(e, state)
                    self.finish()
                    return
                t, data = item
                self.queued -= len(data)
                if self.reading_paused:
                    self.flow()
                await self._through(chain, 0, data, t)
        finally:
            self.task = None

    async def _through(self, chain: tuple[_Entry, ...], i: int, data: bytes, t: float) -> None:
        while i < len(chain):
            e = chain[i]
            i += 1
            state = e.hit()
            if state is not SKIP:

                async def send(d: bytes, t2: float, _i: int = i) -> None:
                    await self._through(chain, _i, d, t2)

                await e.toxic.on_chunk(e, state, data, t, send)
                return
        await self._write(data)

    async def _write(self, data: bytes) -> None:
        dst = self.dst
        if self.conn.closed or dst.transport is None or dst.transport.is_closing():
            return
        dst.transport.write(data)
        self.counts.sent[self.stream] += len(data)
        if dst.write_paused:
            dst.drained = self.loop.create_future()
            await dst.drained

    def finish(self) -> None:
        """The source ended and every toxic let the EOF through: half-close the destination."""
        self.done = True
        tr = self.dst.transport
        if self.conn.closed or tr is None or tr.is_closing():
            return
        if self.conn.half_open and tr.can_write_eof():
            tr.write_eof()
        self.conn.check_done()

    def stop(self) -> None:
        for e in self.entries:
            e.remove()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()


class Conn:
    """One proxied connection: client socket, upstream socket, two links."""

    def __init__(self, proxy: Owner) -> None:
        self.proxy = proxy
        self.loop = proxy.loop
        self.client = _Side(self)
        self.upstream = _Side(self)
        self.links: dict[str, _Link] = {}
        self.closed = False
        self.half_open = True  # False once a socket is gone: then an EOF closes everything
        self.connecting: asyncio.Task[None] | None = None
        self.pending: list[bytes | None] = []  # read from the client before the upstream was there

    def accepted(self, tr: asyncio.Transport) -> None:
        tr.pause_reading()  # nothing may pass before the upstream is there
        self.proxy.conns.add(self)
        self.connecting = self.loop.create_task(self._connect())

    def early(self, data: bytes | None) -> None:
        """Client data read before the upstream was there (uvloop may read after connection_made)."""
        self.pending.append(data)
        tr = self.client.transport
        if tr is not None and not tr.is_closing():
            tr.pause_reading()

    async def _connect(self) -> None:
        host, port = split_hostport(self.proxy.upstream, "upstream")
        try:
            await self.loop.create_connection(lambda: self.upstream, host, port)
        except OSError:
            self.connecting = None
            self.close()  # as Toxiproxy: the client is dropped when the upstream is unreachable
        finally:
            self.connecting = None

    def linked(self) -> None:
        """The upstream socket is there: set up both links before it can deliver any data."""
        up, tr = self.upstream.transport, self.client.transport
        if self.closed or tr is None or tr.is_closing():
            if up is not None:
                up.close()
            return
        chains = self.proxy.chains
        self.links["upstream"] = _Link(self, "upstream", self.client, self.upstream, chains["upstream"])
        self.links["downstream"] = _Link(self, "downstream", self.upstream, self.client, chains["downstream"])
        for data in self.pending:
            self.links["upstream"].feed(data)
        self.pending.clear()
        tr.resume_reading()

    def lost(self, side: _Side) -> None:
        """A socket closed or failed: what it sent still goes through, then all closes."""
        self.half_open = False
        if self.closed:
            return
        if side.transport is self.client.transport and self.connecting is not None:
            self.close()
            return
        if side.reader is not None and not side.reader.done:
            side.reader.feed(None)
        if side.writer is not None:
            side.writer.done = True
        self.check_done()

    def check_done(self) -> None:
        if self.links and all(link.done for link in self.links.values()):
            self.close()

    def close(self, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy.conns.discard(self)
        if self.connecting is not None and self.connecting is not asyncio.current_task():
            self.connecting.cancel()
        for link in self.links.values():
            link.stop()
        for side in (self.client, self.upstream):
            tr = side.transport
            if tr is None:
                continue
            if reset:
                sock = tr.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                tr.abort()
            else:
                tr.close()
            if side.drained is not None and not side.drained.done():
                side.drained.set_result(None)
