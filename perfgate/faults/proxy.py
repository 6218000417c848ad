"""A proxy: a named listener forwarding to an upstream, with toxics per stream (Toxiproxy's proxy.go).

Its connections and their link pipeline live in :mod:`perfgate.faults.link`.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
from typing import Any

from perfgate.errors import FaultError, PortInUseError
from perfgate.faults.link import Conn, split_hostport
from perfgate.faults.toxics import STREAMS, FaultRequestError, Toxic

__all__ = ["Proxy", "split_hostport"]


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Proxy:
    """A named listener forwarding to ``upstream``, with toxics per stream."""

    def __init__(self, name: str, listen: str, upstream: str, *, rng: random.Random | None = None) -> None:
        if not name:
            raise FaultRequestError("proxy name is empty (key 'name')", error="missing required field: name")
        if not upstream:
            raise FaultRequestError(
                f"proxy {name!r}: upstream is empty (key 'upstream')", error="missing required field: upstream"
            )
        split_hostport(upstream, "upstream")
        self.name = name
        self.listen = listen or "127.0.0.1:0"
        self.upstream = upstream
        self.enabled = False
        self.rng = rng or random.Random()
        self.chains: dict[str, list[Toxic]] = {s: [] for s in STREAMS}
        self.conns: set[Conn] = set()
        self.received: dict[str, int] = dict.fromkeys(STREAMS, 0)
        self.sent: dict[str, int] = dict.fromkeys(STREAMS, 0)
        self._server: asyncio.AbstractServer | None = None
        self.loop = asyncio.get_running_loop()

    def __repr__(self) -> str:
        return f"<Proxy {self.name} {self.listen} -> {self.upstream} enabled={self.enabled}>"

    @property
    def listen_host(self) -> str:
        return split_hostport(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return split_hostport(self.listen)[1]

    @property
    def toxics(self) -> list[Toxic]:
        """All toxics, upstream stream first, each in chain order (Toxiproxy's listing order)."""
        return [t for s in STREAMS for t in self.chains[s]]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics],
        }

    # --- enable / disable ---
    async def start(self) -> None:
        """Listen (the proxy is "up"); a port of 0 is replaced by the one picked."""
        if self.enabled:
            return
        host, port = split_hostport(self.listen)
        try:
            sock = self._bind(host, port)
        except OSError as exc:
            addr = _hostport(host, port)
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(f"proxy {self.name!r}: listen address {addr} is already in use") from exc
            raise FaultError(f"proxy {self.name!r}: cannot listen on {addr}: {exc.strerror or exc}") from exc
        self._server = await self.loop.create_server(lambda: Conn(self).client, sock=sock)
        bound = sock.getsockname()
        self.listen = _hostport(bound[0], bound[1])
        self.enabled = True

    @staticmethod
    def _bind(host: str, port: int) -> socket.socket:
        if host in ("", "::") and socket.has_dualstack_ipv6():
            return socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=1024)
        if host == "":
            host = "0.0.0.0"
        family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        return socket.create_server(addr[:2], family=family, backlog=1024)

    async def stop(self) -> None:
        """Stop listening and drop every connection (the proxy is "down")."""
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.conns):
            conn.close(reset=False)
        if server is not None:
            await server.wait_closed()

    # --- toxics ---
    def get_toxic(self, name: str) -> Toxic:
        for t in self.toxics:
            if t.name == name:
                return t
        raise FaultRequestError(f"proxy {self.name!r}: no toxic named {name!r}", status=404, error="toxic not found")

    def add_toxic(self, toxic: Toxic) -> Toxic:
        """Append ``toxic`` to its stream's chain; live connections get it at once."""
        if any(t.name == toxic.name for t in self.toxics):
            raise FaultRequestError(
                f"proxy {self.name!r}: toxic {toxic.name!r} already exists", status=409, error="toxic already exists"
            )
        self.chains[toxic.stream].append(toxic)
        for conn in list(self.conns):
            link = conn.links.get(toxic.stream)
            if link is not None:
                link.add(toxic)
        return toxic

    def update_toxic(self, name: str, new: Toxic) -> Toxic:
        """Replace toxic ``name`` in place (same stream and position) by ``new``."""
        old = self.get_toxic(name)
        chain = self.chains[old.stream]
        chain[chain.index(old)] = new
        for conn in list(self.conns):
            link = conn.links.get(old.stream)
            if link is not None:
                link.replace(name, new)
        return new

    def remove_toxic(self, name: str) -> None:
        old = self.get_toxic(name)
        self.chains[old.stream].remove(old)
        for conn in list(self.conns):
            link = conn.links.get(old.stream)
            if link is not None:
                link.replace(name, None)

    def reset_toxics(self) -> None:
        for t in self.toxics:
            self.remove_toxic(t.name)
