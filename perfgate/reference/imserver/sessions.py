"""Who is online: open WebSocket sessions, presence, and delivery to them."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

from aiohttp import WSCloseCode, web

STATUSES = ("online", "away")


class Sessions:
    """Tracks each user's open sockets and status, and pushes frames to them."""

    def __init__(self) -> None:
        self._sockets: defaultdict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self._status: dict[str, str] = {}
        self.delivered = 0

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self._sockets.values())

    def online(self) -> list[str]:
        return sorted(self._sockets)

    def is_online(self, user: str) -> bool:
        return user in self._sockets

    async def join(self, user: str, ws: web.WebSocketResponse) -> None:
        """Register a socket; the first one brings the user online."""
        first = user not in self._sockets
        others = [u for u in self._sockets if u != user]
        self._sockets[user].add(ws)
        await _send(ws, {"type": "roster", "online": others})
        if first:
            await self.set_status(user, "online")

    async def leave(self, user: str, ws: web.WebSocketResponse) -> None:
        """Drop a socket; the last one takes the user offline."""
        sockets = self._sockets.get(user)
        if sockets is None:
            return
        sockets.discard(ws)
        if not sockets:
            del self._sockets[user]
            self._status.pop(user, None)
            await self._broadcast(user, {"type": "presence", "user": user, "status": "offline"})

    async def set_status(self, user: str, status: str) -> None:
        if self._status.get(user) == status:
            return
        self._status[user] = status
        await self._broadcast(user, {"type": "presence", "user": user, "status": status})

    async def deliver(self, user: str, frame: dict[str, object]) -> bool:
        """Push a message to every socket of ``user``; True if any took it."""
        data = json.dumps(frame)
        sent = False
        for ws in list(self._sockets.get(user, ())):
            sent = await _send_str(ws, data) or sent
        if sent:
            self.delivered += 1
        return sent

    async def close_all(self) -> None:
        """Close every socket at once, so unresponsive clients cannot stall shutdown."""
        sockets = [ws for group in self._sockets.values() for ws in group]
        await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for ws in sockets))

    async def _broadcast(self, source: str, frame: dict[str, object]) -> None:
        data = json.dumps(frame)
        for user, sockets in list(self._sockets.items()):
            if user != source:
                for ws in list(sockets):
                    await _send_str(ws, data)


async def _send(ws: web.WebSocketResponse, frame: dict[str, object]) -> bool:
    return await _send_str(ws, json.dumps(frame))


async def _send_str(ws: web.WebSocketResponse, data: str) -> bool:
    if ws.closed:
        return False
    try:
        await ws.send_str(data)
    except ConnectionError:  # the peer vanished between the check and the write
        return False
    return True
