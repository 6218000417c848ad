"""Logins checked by N redundant auth backends (``authd``), each its own process and data.

The pool asks the backend it used last; when that one fails (refused, timed out, a bad
answer) it moves on to the next. Each backend has a circuit breaker: after
``breaker_failures`` failures in a row it is skipped for ``breaker_cooldown_s`` (then one
request may try it again), and a health check every ``check_interval_s`` opens or closes
it without waiting for a login. Retries of one login are bounded by ``retry_budget_s``;
when every breaker is open a login fails at once with :class:`AuthUnavailable`.

``bug`` (TEST FIXTURES, each a deliberately broken pool): ``no-failover`` stays on the first
backend whatever happens; ``unbounded-retries`` retries without a time bound or breakers,
so a login hangs while all backends are down; ``logout-all`` rejects every token while all
backends are down (the service checks :attr:`AuthPool.all_down`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

import aiohttp

BUGS = ("no-failover", "unbounded-retries", "logout-all")
_RETRY_PAUSE_S = 0.05


class AuthUnavailable(Exception):
    """No auth backend could answer within the login's time budget."""


class BackendFailed(Exception):
    """One backend did not give a valid answer."""


@dataclass(frozen=True, slots=True)
class AuthPoolConfig:
    backends: tuple[str, ...]  # HOST:PORT of each auth backend, in order of preference
    attempt_timeout_s: float = 0.5
    retry_budget_s: float = 2.0
    breaker_failures: int = 2
    breaker_cooldown_s: float = 1.0
    check_interval_s: float = 0.25
    bug: str | None = None


@dataclass
class Breaker:
    """A circuit breaker for one backend: closed, open (skipped) or, after the cooldown, half-open."""

    failures_to_open: int
    cooldown_s: float
    failures: int = 0
    opened_at: float | None = None  # monotonic
    opened_ns: deque[int] = field(default_factory=lambda: deque(maxlen=32))  # wall clock of recent openings

    def allows(self, now: float) -> bool:
        return self.opened_at is None or now - self.opened_at >= self.cooldown_s

    def succeeded(self) -> None:
        self.failures, self.opened_at = 0, None

    def failed(self, now: float) -> None:
        self.failures += 1
        half_open = self.opened_at is not None
        if self.failures >= self.failures_to_open or half_open:
            if self.opened_at is None:
                self.opened_ns.append(time.time_ns())
            self.opened_at = now

    def state(self, now: float) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.allows(now) else "open"


class AuthPool:
    def __init__(self, config: AuthPoolConfig) -> None:
        if not config.backends:
            raise ValueError("an auth pool needs at least one backend")
        self.config = config
        self.breakers = [Breaker(config.breaker_failures, config.breaker_cooldown_s) for _ in config.backends]
        self.requests = [0] * len(config.backends)
        self.current = 0
        self.failovers = 0
        self.unavailable = 0
        self._session: aiohttp.ClientSession | None = None
        self._checker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._checker = asyncio.create_task(self._check_forever())

    async def stop(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
        if self._session is not None:
            await self._session.close()

    @property
    def all_down(self) -> bool:
        """Every breaker is open: no backend is believed to answer."""
        now = time.monotonic()
        return all(b.opened_at is not None for b in self.breakers) and not any(b.allows(now) for b in self.breakers)

    async def verify(self, user: str, password: str) -> bool:
        """Whether the credentials are good, from the first backend that answers."""
        bug = self.config.bug
        breakers = bug not in ("no-failover", "unbounded-retries")  # those fixtures ignore them
        deadline = None if bug == "unbounded-retries" else time.monotonic() + self.config.retry_budget_s
        while True:
            for index in self._order():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                if breakers and not self.breakers[index].allows(now):
                    continue
                budget = (
                    self.config.attempt_timeout_s
                    if deadline is None
                    else min(self.config.attempt_timeout_s, deadline - now)
                )
                try:
                    ok = await self._ask(index, {"user": user, "password": password}, budget)
                except BackendFailed:
                    self.breakers[index].failed(time.monotonic())
                    continue
                self.breakers[index].succeeded()
                if index != self.current:
                    self.current, self.failovers = index, self.failovers + 1
                return ok
            now = time.monotonic()
            if deadline is not None and (now >= deadline or (breakers and self.all_down)):
                self.unavailable += 1
                raise AuthUnavailable
            await asyncio.sleep(_RETRY_PAUSE_S if deadline is None else min(_RETRY_PAUSE_S, deadline - now))

    def _order(self) -> list[int]:
        """The backend used last, then the others in their configured order."""
        if self.config.bug == "no-failover":
            return [0]
        return [self.current] + [i for i in range(len(self.breakers)) if i != self.current]

    async def _ask(self, index: int, body: dict[str, str], timeout_s: float) -> bool:
        assert self._session is not None, "the pool is not started"
        self.requests[index] += 1
        url = f"http://{self.config.backends[index]}/verify"
        try:
            async with self._session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                answer = await resp.json() if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise BackendFailed from None
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            raise BackendFailed
        return bool(answer["ok"])

    async def _check_forever(self) -> None:
        """Health-check every backend on a fixed interval; the result opens or closes its breaker."""
        while True:
            await asyncio.gather(*(self._check(i) for i in range(len(self.breakers))))
            await asyncio.sleep(self.config.check_interval_s)

    async def _check(self, index: int) -> None:
        assert self._session is not None
        url = f"http://{self.config.backends[index]}/healthz"
        timeout = aiohttp.ClientTimeout(total=min(self.config.attempt_timeout_s, 0.5))
        try:
            async with self._session.get(url, timeout=timeout) as resp:
                healthy = resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            healthy = False
        if healthy:
            self.breakers[index].succeeded()
        else:
            self.breakers[index].failed(time.monotonic())

    def status(self) -> dict[str, object]:
        """What /metrics shows about the backends."""
        now = time.monotonic()
        return {
            "auth_backends_up": sum(b.opened_at is None for b in self.breakers),
            "auth_current": self.current,
            "auth_failovers": self.failovers,
            "auth_unavailable": self.unavailable,
            "auth_backends": [
                {
                    "address": address,
                    "state": breaker.state(now),
                    "requests": requests,
                    "opened_ns": list(breaker.opened_ns),  # when the service stopped using it
                }
                for address, breaker, requests in zip(self.config.backends, self.breakers, self.requests, strict=True)
            ],
        }
