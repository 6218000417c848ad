"""A collection of proxies (Toxiproxy's server state), in-process or in a thread.

``ProxyServer`` lives on the running event loop::

    async with ProxyServer() as srv:
        p = await srv.create("db", listen="127.0.0.1:0", upstream="127.0.0.1:5432")
        p.add_toxic(make_toxic("latency", attributes={"latency": 100}))

``ProxyThread`` runs one on its own loop in a background thread, for
synchronous callers; every method blocks until the loop has done the work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from perfgate.errors import FaultError
from perfgate.faults.proxy import Proxy, split_hostport
from perfgate.faults.toxics import FaultRequestError, Toxic, make_toxic

T = TypeVar("T")


class ProxyServer:
    """Named proxies on the running loop, managed as Toxiproxy manages them."""

    def __init__(self, *, seed: int | None = None) -> None:
        self.rng = random.Random(seed)  # toxicity rolls, jitter, slicing: reproducible with a seed
        self._proxies: dict[str, Proxy] = {}

    async def __aenter__(self) -> ProxyServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def proxies(self) -> dict[str, Proxy]:
        return dict(self._proxies)

    def get(self, name: str) -> Proxy:
        try:
            return self._proxies[name]
        except KeyError:
            raise FaultRequestError(f"no proxy named {name!r}", status=404, error="proxy not found") from None

    def __getitem__(self, name: str) -> Proxy:
        return self.get(name)

    async def create(
        self, name: str, listen: str = "127.0.0.1:0", upstream: str = "", *, enabled: bool = True
    ) -> Proxy:
        """Create a proxy and (unless ``enabled`` is False) start listening."""
        proxy = Proxy(name, listen, upstream, rng=self.rng)
        if name in self._proxies:
            raise FaultRequestError(f"proxy {name!r} already exists", status=409, error="proxy already exists")
        if enabled:
            await proxy.start()
        self._proxies[name] = proxy
        return proxy

    async def update(
        self, name: str, *, listen: str | None = None, upstream: str | None = None, enabled: bool | None = None
    ) -> Proxy:
        """Toxiproxy's update: a new listen or upstream restarts the proxy, dropping connections."""
        proxy = self.get(name)
        listen = proxy.listen if listen is None else listen
        upstream = proxy.upstream if upstream is None else upstream
        enabled = proxy.enabled if enabled is None else enabled
        if listen != proxy.listen or upstream != proxy.upstream:
            split_hostport(listen)
            split_hostport(upstream, "upstream")
            await proxy.stop()
            proxy.listen, proxy.upstream = listen, upstream
        if enabled and not proxy.enabled:
            await proxy.start()
        elif not enabled and proxy.enabled:
            await proxy.stop()
        return proxy

    async def set_enabled(self, name: str, enabled: bool) -> Proxy:
        return await self.update(name, enabled=enabled)

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        del self._proxies[name]
        await proxy.stop()

    async def populate(self, items: object) -> list[Proxy]:
        """Toxiproxy's ``/populate``: create or replace; a proxy whose listen and upstream match is kept."""
        if not isinstance(items, list):
            raise FaultRequestError(
                "populate expects a JSON array of proxies", error="bad request body: expected an array of proxies"
            )
        specs: list[tuple[str, str, str, bool]] = []
        for i, item in enumerate(items, 1):
            if not isinstance(item, dict):
                raise FaultRequestError(f"proxy {i} must be an object", error="bad request body: expected an object")
            for key in ("name", "upstream"):
                if not item.get(key):
                    raise FaultRequestError(
                        f"proxy {i}: missing required key {key!r}", error=f"missing required field: {key} at proxy {i}"
                    )
            enabled = item.get("enabled")
            specs.append(
                (
                    item["name"],
                    item.get("listen") or "127.0.0.1:0",
                    item["upstream"],
                    True if enabled is None else bool(enabled),
                )
            )
        names = [s[0] for s in specs]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise FaultRequestError(
                f"duplicate proxy name {dup!r} in populate", status=500, error=f'duplicate proxy name "{dup}"'
            )
        result = []
        for name, listen, upstream, enabled in specs:
            old = self._proxies.get(name)
            if old is not None:
                if old.listen == listen and old.upstream == upstream:
                    result.append(old)
                    continue
                await self.delete(name)
            result.append(await self.create(name, listen, upstream, enabled=enabled))
        return result

    async def reset(self) -> None:
        """Toxiproxy's ``/reset``: enable every proxy and remove every toxic."""
        for proxy in self._proxies.values():
            await proxy.start()
            proxy.reset_toxics()

    async def close(self) -> None:
        for name in list(self._proxies):
            await self.delete(name)

    def add_toxic(self, proxy: str, type: str, **fields: Any) -> Toxic:
        """``add_toxic("db", "latency", attributes={"latency": 100})``; see :func:`make_toxic`."""
        return self.get(proxy).add_toxic(make_toxic(type, **fields))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.get(proxy).remove_toxic(name)


class ProxyThread:
    """A :class:`ProxyServer` on its own event loop in a daemon thread, for synchronous code."""

    def __init__(self, *, seed: int | None = None, use_uvloop: bool | None = None) -> None:
        self._seed = seed
        self._use_uvloop = use_uvloop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.server: ProxyServer | None = None

    def __enter__(self) -> ProxyThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ProxyThread:
        if self._thread is not None:
            return self
        self._loop = new_event_loop(self._use_uvloop)
        ready = threading.Event()

        def main() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, name="perfgate-proxy", daemon=True)
        self._thread.start()
        ready.wait()

        async def make() -> ProxyServer:
            return ProxyServer(seed=self._seed)

        self.server = self.call(make())
        return self

    def stop(self) -> None:
        """Close every proxy and connection, then stop the loop and join the thread."""
        if self._thread is None or self._loop is None:
            return
        try:
            if self.server is not None:
                self.call(self.server.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
            self._thread = self._loop = self.server = None

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run ``coro`` on the proxy loop and wait for its result."""
        return self.submit(coro).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._loop is None:
            coro.close()
            raise FaultError("the proxy thread is not started (call ProxyThread.start())")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def running(self) -> ProxyServer:
        """The started server (for coroutines submitted to its loop)."""
        if self.server is None:
            raise FaultError("the proxy thread is not started (call ProxyThread.start())")
        return self.server

    def create(self, name: str, listen: str = "127.0.0.1:0", upstream: str = "", *, enabled: bool = True) -> Proxy:
        """Create a proxy; read its fields (``listen_port``), change it through this handle."""
        return self.call(self.running().create(name, listen, upstream, enabled=enabled))

    def delete(self, name: str) -> None:
        self.call(self.running().delete(name))

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.call(self.running().set_enabled(name, enabled))

    def add_toxic(self, proxy: str, type: str, **fields: Any) -> Toxic:
        async def go() -> Toxic:
            return self.running().add_toxic(proxy, type, **fields)

        return self.call(go())

    def remove_toxic(self, proxy: str, name: str) -> None:
        async def go() -> None:
            self.running().remove_toxic(proxy, name)

        self.call(go())

    def reset(self) -> None:
        self.call(self.running().reset())


def new_event_loop(use_uvloop: bool | None = None) -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop when installed (the default, it is faster; see BENCHMARKS.md)."""
    if use_uvloop is not False:
        try:
            import uvloop
        except ImportError:
            if use_uvloop:
                raise FaultError("uvloop is not installed (use_uvloop=True)") from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()
