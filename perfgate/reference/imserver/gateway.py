"""Outbound link to an external IM network, fed from an in-RAM queue.

One background task forwards queued messages one at a time. When the peer is
slow, messages pile up in RAM (queue depth and RSS grow), which reproduces the
incident this service is modelled on. A positive ``limit`` bounds the queue so
that callers get backpressure instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp

from .storage import Message

log = logging.getLogger(__name__)

EXTERNAL_PREFIX = "ext:"
RETRIES = 3


class GatewayFull(Exception):
    """The bounded gateway queue has no room for another message."""


class GatewayLink:
    def __init__(self, peer: str, limit: int = 0, timeout_s: float = 30.0) -> None:
        self._url = f"http://{peer}/deliver"
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=max(limit, 0))
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._task: asyncio.Task[None] | None = None
        self.forwarded = 0
        self.dropped = 0  # refused for backpressure, or given up after retries

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def ensure_room(self) -> None:
        """Raise GatewayFull (counted as a drop) if the bounded queue is full."""
        if self._queue.full():
            self.dropped += 1
            raise GatewayFull

    def submit(self, msg: Message) -> None:
        """Queue a message for the peer; raises GatewayFull when bounded and full."""
        try:
            self._queue.put_nowait(msg)
        except asyncio.QueueFull:
            self.dropped += 1
            raise GatewayFull from None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._forward_loop(), name="gateway-forwarder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forward_loop(self) -> None:
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            while True:
                msg = await self._queue.get()
                if await self._forward(session, msg):
                    self.forwarded += 1
                else:
                    self.dropped += 1
                    log.warning("gateway gave up on message %d to %s", msg.id, msg.recipient)

    async def _forward(self, session: aiohttp.ClientSession, msg: Message) -> bool:
        """POST one message, retrying a few times with a short backoff."""
        for attempt in range(RETRIES):
            try:
                async with session.post(self._url, json=msg.to_json()) as resp:
                    if resp.status < 500:
                        return resp.status < 400
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.1 * 2**attempt)
        return False
