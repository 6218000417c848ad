"""A stand-in for the external IM network: accepts messages, slowly.

``python -m loadtests.imserver.gateway_peer --port P --delay-ms D``
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

from aiohttp import web


@dataclass
class PeerState:
    delay_s: float
    received: int = 0


STATE = web.AppKey("state", PeerState)


async def deliver(request: web.Request) -> web.Response:
    await request.json()
    state = request.app[STATE]
    await asyncio.sleep(state.delay_s)
    state.received += 1
    return web.json_response({"status": "accepted"})


async def stats(request: web.Request) -> web.Response:
    return web.json_response({"received": request.app[STATE].received})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(delay_ms: float) -> web.Application:
    app = web.Application()
    app[STATE] = PeerState(delay_ms / 1000)
    app.router.add_post("/deliver", deliver)
    app.router.add_get("/stats", stats)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="sleep per message")
    args = parser.parse_args(argv)
    web.run_app(
        build_app(args.delay_ms),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
        shutdown_timeout=2.0,
    )


if __name__ == "__main__":
    main()
