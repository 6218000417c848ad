"""HTTP and WebSocket handlers of the reference IM service."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from aiohttp import WSMsgType, web

from . import auth
from .auth import (
    SCRYPT_LOG2N,
    PasswordHash,
    TokenSigner,
    hash_password,
    load_or_create_key,
    verify_password,
)
from .authpool import AuthPool, AuthPoolConfig, AuthUnavailable
from .gateway import EXTERNAL_PREFIX, GatewayFull, GatewayLink
from .sessions import STATUSES, Sessions
from .storage import (
    ReadOnlyError,
    SqliteStorage,
    Storage,
    StorageUnavailable,
)

log = logging.getLogger(__name__)

MAX_BODY_CHARS = 4096
MAX_HISTORY = 200
MAX_NAME_CHARS = 128
READ_ONLY_ERROR = "read-only: primary unavailable"
AUTH_DOWN_ERROR = "login unavailable"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    users: int = 200
    scrypt_log2n: int = SCRYPT_LOG2N
    gateway: str | None = None
    gateway_queue_limit: int = 0
    seed_cache: Path | None = None  # where seeded hashes are kept between starts (see seed_hashes)
    auth: AuthPoolConfig | None = None  # redundant auth backends; None = passwords checked in-process
    version: str = ""  # what GET /version answers: a deployment's build label ("" : no /version)


def seeded_account(i: int) -> tuple[str, str]:
    """The i-th seeded user name and its password."""
    return f"user{i:04d}", f"pass{i:04d}"


def _error(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    """An HTTP error whose body is ``{"error": message}``."""
    return kind(text=json.dumps({"error": message}), content_type="application/json")


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _error(web.HTTPBadRequest, "body must be JSON") from None
    if not isinstance(data, dict):
        raise _error(web.HTTPBadRequest, "body must be a JSON object")
    return data


async def seed_hashes(passwords: list[str], log2n: int, cache: Path | None) -> list[PasswordHash]:
    """Hashes of the seeded passwords. With a ``cache`` folder they are computed once per set of
    passwords, work factor and hashing code (``auth.py``'s text), and read back on later starts:
    a fresh data directory per start then costs no scrypt at boot, only at login."""
    key = hashlib.sha256(repr((passwords, log2n, Path(auth.__file__).read_bytes())).encode()).hexdigest()[:16]
    path = cache / f"seed-{key}.json" if cache else None
    if path is not None and path.is_file():
        rows = json.loads(path.read_text())
        return [PasswordHash(base64.b64decode(s), base64.b64decode(d), n) for s, d, n in rows]
    loop = asyncio.get_running_loop()
    hashes = list(await asyncio.gather(*(loop.run_in_executor(None, hash_password, pw, log2n) for pw in passwords)))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        rows = [(base64.b64encode(h.salt).decode(), base64.b64encode(h.digest).decode(), h.log2n) for h in hashes]
        tmp.write_text(json.dumps(rows))
        os.replace(tmp, path)
    return hashes


class ImService:
    """The service's state, and one handler method per endpoint."""

    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.settings = settings
        self.storage = storage or SqliteStorage(settings.data_dir / "im.sqlite3")
        self.sessions = Sessions()
        self.signer = TokenSigner(load_or_create_key(settings.data_dir / "token.key"))
        self.gateway = GatewayLink(settings.gateway, settings.gateway_queue_limit) if settings.gateway else None
        self.auth = AuthPool(settings.auth) if settings.auth else None
        self.known_users: set[str] = set()
        self.logins = 0
        self.ready = False
        self._started = time.monotonic()
        self._process = psutil.Process()
        # Unknown users are checked against this, so a miss costs as much as a hit.
        self._decoy = hash_password("decoy", settings.scrypt_log2n)

    # -- lifecycle --------------------------------------------------------

    async def lifespan(self, app: web.Application) -> AsyncIterator[None]:
        await self.storage.open()
        try:
            await self._seed_users()
            if self.gateway:
                await self.gateway.start()
            if self.auth:
                await self.auth.start()
            self.ready = True
            yield
        finally:
            self.ready = False
            if self.auth:
                await self.auth.stop()
            if self.gateway:
                await self.gateway.stop()
            await self.storage.close()

    async def _seed_users(self) -> None:
        """Create user0000.. with scrypt hashes; users already at this work factor are kept."""
        t0 = time.perf_counter()
        log2n = self.settings.scrypt_log2n
        have = await self.storage.user_work_factors()
        todo = [seeded_account(i) for i in range(self.settings.users)]
        todo = [(name, pw) for name, pw in todo if have.get(name) != log2n]
        hashes = await seed_hashes([pw for _, pw in todo], log2n, self.settings.seed_cache)
        await self.storage.create_users(zip((name for name, _ in todo), hashes, strict=True))
        self.known_users = set(have) | {name for name, _ in todo}
        log.info(
            "seeded %d of %d users (log2n=%d) in %.2fs", len(todo), self.settings.users, log2n, time.perf_counter() - t0
        )

    async def on_shutdown(self, app: web.Application) -> None:
        await self.sessions.close_all()

    # -- helpers ------------------------------------------------------------

    def _token_user(self, token: str) -> str | None:
        """The token's user; tokens are stateless, so they outlive an auth outage (unless the fixture says not)."""
        if self.auth and self.auth.config.bug == "logout-all" and self.auth.all_down:
            return None
        return self.signer.verify(token)

    def _bearer(self, request: web.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        user = self._token_user(token) if scheme.lower() == "bearer" else None
        if user is None:
            raise _error(web.HTTPUnauthorized, "missing or invalid token")
        return user

    async def _user_exists(self, name: str) -> bool:
        if name in self.known_users:
            return True
        if await self.storage.get_user(name) is not None:
            self.known_users.add(name)
            return True
        return False

    # -- endpoints -------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        data = await _json_object(request)
        user, password = data.get("user"), data.get("password")
        if not isinstance(user, str) or not isinstance(password, str):
            raise _error(web.HTTPBadRequest, "user and password must be strings")
        if self.auth:
            ok = await self._verify_remote(user, password)
        else:
            stored = await self.storage.get_user(user)
            verified = await asyncio.get_running_loop().run_in_executor(
                None, verify_password, password, stored or self._decoy
            )
            ok = bool(verified and stored)
        if not ok:
            raise _error(web.HTTPUnauthorized, "bad credentials")
        self.logins += 1
        return web.json_response({"token": self.signer.issue(user), "user": user})

    async def _verify_remote(self, user: str, password: str) -> bool:
        """Credentials checked by the auth backends; all of them down is a fast 503, never a hang."""
        assert self.auth is not None
        try:
            return await self.auth.verify(user, password)
        except AuthUnavailable:
            n = len(self.auth.config.backends)
            raise _error(web.HTTPServiceUnavailable, f"{AUTH_DOWN_ERROR}: none of {n} auth backends answers") from None

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        user = self._token_user(request.query.get("token", ""))
        if user is None:
            raise _error(web.HTTPUnauthorized, "missing or invalid token")
        ws = web.WebSocketResponse(timeout=2.0)
        await ws.prepare(request)
        await self.sessions.join(user, ws)
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await self._client_frame(user, frame.data)
        finally:
            await self.sessions.leave(user, ws)
        return ws

    async def _client_frame(self, user: str, text: str) -> None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return
        if isinstance(data, dict) and data.get("type") == "presence" and data.get("status") in STATUSES:
            await self.sessions.set_status(user, data["status"])

    async def send_message(self, request: web.Request) -> web.Response:
        sender = self._bearer(request)
        data = await _json_object(request)
        to, body = data.get("to"), data.get("body")
        sent_ns = data.get("client_sent_ns", time.time_ns())
        if not isinstance(to, str) or not to or not isinstance(body, str):
            raise _error(web.HTTPBadRequest, "to and body must be strings")
        if len(to) > MAX_NAME_CHARS:
            raise _error(web.HTTPBadRequest, f"to longer than {MAX_NAME_CHARS} characters")
        if len(body) > MAX_BODY_CHARS:
            raise _error(web.HTTPBadRequest, f"body longer than {MAX_BODY_CHARS} characters")
        if not isinstance(sent_ns, int) or isinstance(sent_ns, bool):
            raise _error(web.HTTPBadRequest, "client_sent_ns must be an integer")

        if to.startswith(EXTERNAL_PREFIX):
            return await self._send_external(sender, to, body, sent_ns)
        if not await self._user_exists(to):
            raise _error(web.HTTPNotFound, f"unknown user {to!r}")
        msg = await self.storage.save_message(sender, to, body, sent_ns)
        delivered = await self.sessions.deliver(to, msg.to_json())
        return web.json_response({"id": msg.id, "status": "delivered" if delivered else "stored"})

    async def _send_external(self, sender: str, to: str, body: str, sent_ns: int) -> web.Response:
        gateway = self.gateway
        if gateway is None:
            raise _error(web.HTTPServiceUnavailable, "no gateway configured")
        try:
            gateway.ensure_room()
            msg = await self.storage.save_message(sender, to, body, sent_ns)
            gateway.submit(msg)
        except GatewayFull:
            raise _error(web.HTTPServiceUnavailable, "gateway backpressure") from None
        return web.json_response({"id": msg.id, "status": "queued"})

    async def history(self, request: web.Request) -> web.Response:
        user = self._bearer(request)
        other = request.query.get("with", "")
        limit = request.query.get("limit", "50")
        if not other:
            raise _error(web.HTTPBadRequest, "'with' is required")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_HISTORY:
            raise _error(web.HTTPBadRequest, f"limit must be an integer in 1..{MAX_HISTORY}")
        messages = await self.storage.history(user, other, int(limit))
        return web.json_response({"with": other, "messages": [m.to_json() for m in messages]})

    async def users_online(self, request: web.Request) -> web.Response:
        self._bearer(request)
        return web.json_response({"online": self.sessions.online()})

    async def healthz(self, request: web.Request) -> web.Response:
        if not self.ready:
            return web.json_response({"status": "starting"}, status=503)
        body = {"status": "ok", "mode": self.storage.status().mode}
        if self.auth:
            body["auth"] = "degraded" if self.auth.all_down else "ok"
        return web.json_response(body)

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": self.settings.version})

    async def metrics(self, request: web.Request) -> web.Response:
        gateway = self.gateway
        db = self.storage.status()
        auth_status = self.auth.status() if self.auth else {}
        return web.json_response(
            {
                **auth_status,
                "connections": self.sessions.connections,
                "users_online": len(self.sessions.online()),
                "queue_depth": gateway.depth if gateway else 0,
                "delivered": self.sessions.delivered,
                "messages": self.storage.count_messages(),
                "logins": self.logins,
                "rss_bytes": self._process.memory_info().rss,
                "cpu_seconds": time.process_time(),  # every thread's CPU, for a load tool that cannot see the process
                "mode": db.mode,
                "mode_changes": db.mode_changes,
                "last_mode_change_ns": db.last_mode_change_ns,
                "db_errors": db.errors,
                "gateway_forwarded": gateway.forwarded if gateway else 0,
                "gateway_dropped": gateway.dropped if gateway else 0,
                "uptime_s": round(time.monotonic() - self._started, 3),
            }
        )


@web.middleware
async def storage_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A database that cannot answer is a fast 503, never a hang or a 500."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ReadOnlyError:
        raise _error(web.HTTPServiceUnavailable, READ_ONLY_ERROR) from None
    except StorageUnavailable:
        raise _error(web.HTTPServiceUnavailable, "database unavailable") from None


def build_app(settings: Settings, storage: Storage | None = None) -> web.Application:
    """The service on ``storage`` (default: SQLite in the data directory)."""
    service = ImService(settings, storage)
    app = web.Application(middlewares=[storage_errors])
    app.cleanup_ctx.append(service.lifespan)
    app.on_shutdown.append(service.on_shutdown)
    app.router.add_post("/login", service.login)
    app.router.add_get("/ws", service.websocket)
    app.router.add_post("/messages", service.send_message)
    app.router.add_get("/history", service.history)
    app.router.add_get("/users/online", service.users_online)
    app.router.add_get("/healthz", service.healthz)
    app.router.add_get("/metrics", service.metrics)
    if settings.version:
        app.router.add_get("/version", service.version)
    return app
