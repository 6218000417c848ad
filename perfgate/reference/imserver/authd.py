"""One auth backend: ``python -m loadtests.imserver.authd --port P --data DIR [--store sqlite|memory]``.

It holds its own copy of the seeded users (user0000.. with scrypt hashes) and answers
``POST /verify {"user", "password"}`` with ``{"ok": true|false}``. Two storages with two
code paths, so that redundant backends do not all fail alike: ``sqlite`` looks each user
up in a SQLite file, ``memory`` loads a JSON file of hashes into a dict at start.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from aiohttp import web

from .app import seed_hashes, seeded_account
from .auth import SCRYPT_LOG2N, PasswordHash, hash_password, verify_password
from .storage import SqliteStorage

log = logging.getLogger(__name__)
STORES = ("sqlite", "memory")


class UserStore(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def create_users(self, users: list[tuple[str, PasswordHash]]) -> None: ...
    async def get_user(self, name: str) -> PasswordHash | None: ...


class MemoryStore:
    """Users in a dict, kept in a JSON file so that a restarted backend has the same data."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._users: dict[str, PasswordHash] = {}

    async def open(self) -> None:
        if self._path.is_file():
            rows = json.loads(self._path.read_text())
            self._users = {
                n: PasswordHash(base64.b64decode(s), base64.b64decode(d), k) for n, (s, d, k) in rows.items()
            }

    async def close(self) -> None:
        self._users = {}

    async def create_users(self, users: list[tuple[str, PasswordHash]]) -> None:
        self._users.update(users)
        rows = {
            n: (base64.b64encode(h.salt).decode(), base64.b64encode(h.digest).decode(), h.log2n)
            for n, h in self._users.items()
        }
        tmp = self._path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rows))
        os.replace(tmp, self._path)

    async def get_user(self, name: str) -> PasswordHash | None:
        return self._users.get(name)


def open_store(kind: str, data: Path) -> UserStore:
    if kind == "memory":
        return MemoryStore(data / "auth-users.json")
    return SqliteStorage(data / "auth.sqlite3")


class AuthBackend:
    def __init__(self, store: UserStore, users: int, log2n: int, seed_cache: Path | None) -> None:
        self.store = store
        self.users = users
        self.log2n = log2n
        self.seed_cache = seed_cache
        self.verified = 0
        self._decoy = hash_password("decoy", log2n)

    async def lifespan(self, app: web.Application) -> AsyncIterator[None]:
        await self.store.open()
        try:
            accounts = [seeded_account(i) for i in range(self.users)]
            missing = [(n, pw) for n, pw in accounts if await self.store.get_user(n) is None]
            hashes = await seed_hashes([pw for _, pw in missing], self.log2n, self.seed_cache)
            await self.store.create_users([(n, h) for (n, _), h in zip(missing, hashes, strict=True)])
            log.info("auth backend ready: %d users, %d seeded now", self.users, len(missing))
            yield
        finally:
            await self.store.close()

    async def verify(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        user, password = (data.get("user"), data.get("password")) if isinstance(data, dict) else (None, None)
        if not isinstance(user, str) or not isinstance(password, str):
            return web.json_response({"error": "user and password must be strings"}, status=400)
        stored = await self.store.get_user(user)
        ok = await asyncio.get_running_loop().run_in_executor(None, verify_password, password, stored or self._decoy)
        self.verified += 1
        return web.json_response({"ok": bool(ok and stored)})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "verified": self.verified})


def build_app(
    store: UserStore, users: int, log2n: int = SCRYPT_LOG2N, seed_cache: Path | None = None
) -> web.Application:
    backend = AuthBackend(store, users, log2n, seed_cache)
    app = web.Application()
    app.cleanup_ctx.append(backend.lifespan)
    app.router.add_post("/verify", backend.verify)
    app.router.add_get("/healthz", backend.healthz)
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m loadtests.imserver.authd", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", type=Path, required=True, help="data directory (created if needed)")
    p.add_argument("--store", choices=STORES, default="sqlite")
    p.add_argument("--users", type=int, default=200, help="seeded users user0000..")
    p.add_argument("--seed-cache", type=Path, metavar="DIR", help="as the service's --seed-cache")
    p.add_argument("--scrypt-log2n", type=int, default=SCRYPT_LOG2N)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.data.mkdir(parents=True, exist_ok=True)
    app = build_app(open_store(args.store, args.data), args.users, args.scrypt_log2n, args.seed_cache)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, shutdown_timeout=2.0)


if __name__ == "__main__":
    main()
