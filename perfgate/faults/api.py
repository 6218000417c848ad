"""Toxiproxy's HTTP API (2.x) over a :class:`ProxyServer`, with aiohttp.

Same endpoints, JSON shapes, status codes and error bodies
(``{"error": "...", "status": N}``) as Toxiproxy, so its clients work
unchanged. perfgate's extensions (the ``stall`` toxic, ``toxicity_mode``)
are extra optional fields that Toxiproxy clients never need to send.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import math
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

import perfgate
from perfgate.errors import FaultError, PerfgateError, PortInUseError
from perfgate.faults.link import split_hostport
from perfgate.faults.server import ProxyServer, new_event_loop
from perfgate.faults.toxics import FaultRequestError, toxic_from_json, updated_toxic

#: The Toxiproxy API level served, with perfgate's version as build metadata.
VERSION = f"2.6.0+perfgate.{perfgate.__version__}"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SRV = web.AppKey("srv", ProxyServer)


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, "status": status, **extra}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        return web.Response(status=403, text="User agent not allowed\n")  # as Toxiproxy: no browsers
    try:
        return await handler(request)
    except web.HTTPException:
        raise  # aiohttp's own answers (404 for an unknown route, 405 ...)
    except FaultRequestError as exc:
        return _error(exc.status, exc.error)
    except (FaultError, PortInUseError) as exc:
        return _error(_status_of(exc), str(exc))
    except Exception as exc:  # a bug: still a JSON answer, never aiohttp's traceback page
        logging.getLogger(__name__).exception("perfgate proxy API: internal error")
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")


def _status_of(exc: PerfgateError) -> int:
    """A listen address that does not resolve is the client's mistake (400); other failures are 500."""
    return 400 if isinstance(exc.__cause__, socket.gaierror) else 500


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid number {name} (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} out of range")
    return value


async def _body(request: web.Request, kind: type) -> Any:
    raw = await request.read()
    try:
        body = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except ValueError as exc:  # also NaN, Infinity, 1e400, non-UTF-8, ints beyond Python's digit limit
        msg = f"bad request body: {exc}" if raw.strip() else "bad request body: EOF"
        raise FaultRequestError(msg) from None
    if not isinstance(body, kind):
        raise FaultRequestError("bad request body", error=f"bad request body: expected a JSON {kind.__name__}")
    return body


def _field(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise FaultRequestError(f"bad request body: {key} must be a {kind.__name__}")
    return value


def _address(body: dict[str, Any], key: str, default: str) -> str:
    """A ``host:port`` field: ASCII, printable, port in ASCII digits (``"127.0.0.1:١٢٣"`` is not port 123)."""
    value: str = _field(body, key, str, default)
    if value and not (value.isascii() and value.isprintable() and " " not in value):
        raise FaultRequestError(
            f"{key} address {value!r} must be host:port", error=f"bad request body: {key} must be host:port"
        )
    if value:
        split_hostport(value, key)
    return value


def _populate_items(body: list[Any]) -> list[dict[str, Any]]:
    """``/populate`` entries with the field types checked, as ``POST /proxies`` checks them."""
    items = []
    for i, item in enumerate(body, 1):
        if not isinstance(item, dict):
            raise FaultRequestError(f"proxy {i} must be an object", error="bad request body: expected an object")
        for key in ("name", "upstream"):
            if not _field(item, key, str, ""):
                raise FaultRequestError(
                    f"proxy {i}: missing required key {key!r}", error=f"missing required field: {key} at proxy {i}"
                )
        items.append(
            {
                **item,
                "listen": _address(item, "listen", ""),
                "upstream": _address(item, "upstream", ""),
                "enabled": _field(item, "enabled", bool, True),
            }
        )
    return items


def _srv(request: web.Request) -> ProxyServer:
    return request.app[SRV]


async def proxy_index(request: web.Request) -> web.Response:
    return web.json_response({name: p.to_json() for name, p in _srv(request).proxies.items()})


async def proxy_create(request: web.Request) -> web.Response:
    body = await _body(request, dict)
    name = _field(body, "name", str, "")
    upstream = _field(body, "upstream", str, "")
    if not name:
        return _error(400, "missing required field: name")
    if not upstream:
        return _error(400, "missing required field: upstream")
    upstream = _address(body, "upstream", "")
    proxy = await _srv(request).create(
        name, _address(body, "listen", ""), upstream, enabled=_field(body, "enabled", bool, True)
    )
    return web.json_response(proxy.to_json(), status=201)


async def populate(request: web.Request) -> web.Response:
    try:
        proxies = await _srv(request).populate(_populate_items(await _body(request, list)))
    except FaultRequestError as exc:
        return _error(exc.status, exc.error, proxies=None)
    except (FaultError, PortInUseError) as exc:
        return _error(_status_of(exc), str(exc), proxies=None)
    return web.json_response({"proxies": [p.to_json() for p in proxies]}, status=201)


async def proxy_show(request: web.Request) -> web.Response:
    return web.json_response(_srv(request).get(request.match_info["proxy"]).to_json())


async def proxy_update(request: web.Request) -> web.Response:
    srv = _srv(request)
    proxy = srv.get(request.match_info["proxy"])
    body = await _body(request, dict)
    await srv.update(
        proxy.name,
        listen=_address(body, "listen", proxy.listen),
        upstream=_address(body, "upstream", proxy.upstream),
        enabled=_field(body, "enabled", bool, proxy.enabled),
    )
    return web.json_response(proxy.to_json())


async def proxy_delete(request: web.Request) -> web.Response:
    await _srv(request).delete(request.match_info["proxy"])
    return web.Response(status=204)


async def toxic_index(request: web.Request) -> web.Response:
    proxy = _srv(request).get(request.match_info["proxy"])
    return web.json_response([t.to_json() for t in proxy.toxics])


async def toxic_create(request: web.Request) -> web.Response:
    proxy = _srv(request).get(request.match_info["proxy"])
    toxic = proxy.add_toxic(toxic_from_json(await _body(request, dict)))
    return web.json_response(toxic.to_json())


async def toxic_show(request: web.Request) -> web.Response:
    proxy = _srv(request).get(request.match_info["proxy"])
    return web.json_response(proxy.get_toxic(request.match_info["toxic"]).to_json())


async def toxic_update(request: web.Request) -> web.Response:
    proxy = _srv(request).get(request.match_info["proxy"])
    old = proxy.get_toxic(request.match_info["toxic"])
    new = proxy.update_toxic(old.name, updated_toxic(old, await _body(request, dict)))
    return web.json_response(new.to_json())


async def toxic_delete(request: web.Request) -> web.Response:
    _srv(request).get(request.match_info["proxy"]).remove_toxic(request.match_info["toxic"])
    return web.Response(status=204)


async def reset(request: web.Request) -> web.Response:
    await _srv(request).reset()
    return web.Response(status=204)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text, as Toxiproxy's ``/metrics``: bytes received and sent per proxy and direction."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily

    proxies = list(_srv(request).proxies.values())
    labels = ["direction", "listener", "proxy", "upstream"]

    class Proxies:
        def collect(self) -> Iterator[CounterMetricFamily]:
            for name, counts in (("received", "received"), ("sent", "sent")):
                family = CounterMetricFamily(
                    f"toxiproxy_proxy_{name}_bytes", f"Bytes the proxy has {name}, by direction", labels=labels
                )
                for proxy in proxies:
                    for direction, n in getattr(proxy, counts).items():
                        family.add_metric([direction, proxy.listen, proxy.name, proxy.upstream], n)
                yield family

    registry = CollectorRegistry()
    registry.register(Proxies())
    return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")


async def version(request: web.Request) -> web.Response:
    return web.Response(text=json.dumps({"version": VERSION}) + "\n", content_type="application/json", charset="utf-8")


def build_app(srv: ProxyServer) -> web.Application:
    """The aiohttp application serving Toxiproxy's API over ``srv``."""
    app = web.Application(middlewares=[_errors])
    app[SRV] = srv
    r = app.router
    r.add_post("/reset", reset)
    r.add_get("/proxies", proxy_index)
    r.add_post("/proxies", proxy_create)
    r.add_post("/populate", populate)
    r.add_get("/proxies/{proxy}", proxy_show)
    r.add_post("/proxies/{proxy}", proxy_update)
    r.add_patch("/proxies/{proxy}", proxy_update)
    r.add_delete("/proxies/{proxy}", proxy_delete)
    r.add_get("/proxies/{proxy}/toxics", toxic_index)
    r.add_post("/proxies/{proxy}/toxics", toxic_create)
    r.add_get("/proxies/{proxy}/toxics/{toxic}", toxic_show)
    r.add_post("/proxies/{proxy}/toxics/{toxic}", toxic_update)
    r.add_patch("/proxies/{proxy}/toxics/{toxic}", toxic_update)
    r.add_delete("/proxies/{proxy}/toxics/{toxic}", toxic_delete)
    r.add_get("/version", version)
    r.add_get("/metrics", metrics)
    return app


async def start_api(srv: ProxyServer, host: str = "127.0.0.1", port: int = 8474) -> tuple[web.AppRunner, int]:
    """Serve the API for ``srv`` on the running loop; returns the runner (``await runner.cleanup()``) and port."""
    runner = web.AppRunner(build_app(srv), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"--port {port}: {host}:{port} is already in use") from exc
        raise FaultError(f"--host {host} --port {port}: cannot listen: {exc.strerror or exc}") from exc
    return runner, int(runner.addresses[0][1])


def load_populate_file(path: str | Path) -> list[dict[str, Any]]:
    """Read a Toxiproxy config file (a JSON array of proxies, as ``toxiproxy-server -config``)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FaultError(f"--config {p}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise FaultError(f"--config {p}: not valid JSON: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise FaultError(f"--config {p}: must be a JSON array of proxies (objects with name, listen, upstream)")
    return data


async def serve(
    host: str, port: int, config: list[dict[str, Any]] | None = None, on_ready: Callable[[int], None] | None = None
) -> None:
    """Serve the API until SIGINT or SIGTERM, then close every proxy."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with ProxyServer() as srv:
        if config:
            try:
                await srv.populate(config)
            except PerfgateError as exc:
                raise FaultError(f"--config: {exc}") from exc
        runner, bound = await start_api(srv, host, port)
        try:
            if on_ready is not None:
                on_ready(bound)
            await stop.wait()
        finally:
            await runner.cleanup()


def run_api(
    host: str = "127.0.0.1",
    port: int = 8474,
    config: list[dict[str, Any]] | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Blocking: a fresh event loop (uvloop when installed) serving the API."""
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(host, port, config, on_ready))
    finally:
        loop.close()
