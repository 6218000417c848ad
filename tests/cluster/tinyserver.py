"""A tiny aiohttp target for the cluster tests: ``python tinyserver.py PORT``."""

import sys

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


app = web.Application()
app.add_routes([web.get("/hello", hello), web.get("/healthz", healthz), web.get("/metrics", healthz)])

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
