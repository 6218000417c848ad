"""Toxics: Toxiproxy's, with its attribute names and semantics, plus perfgate's ``stall``.

A toxic is an immutable description (a frozen dataclass). It acts on one
direction of a connection through four hooks that the proxy's link calls:

- ``new_state()``: per-connection (or per-hit, in chunk mode) mutable state;
- ``on_start(ctx, state)``: the toxic starts acting on a link (connection mode:
  when the connection opens or the toxic is added; chunk mode: on each hit);
- ``on_chunk(ctx, state, data, t, send)``: a chunk that arrived at loop time
  ``t``; pass it on (whole, sliced, delayed) with ``await send(data, t)``;
- ``on_eof(ctx, state)``: the input ended; return to let the EOF through.

``ctx`` is the link's handle for this toxic (:class:`Ctx`). Its waits return
early when the toxic is removed, so held data is never dropped on removal,
as in Toxiproxy.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from perfgate.errors import FaultError

STREAMS = ("upstream", "downstream")
MODES = ("connection", "chunk")  # perfgate extension: per-connection (Toxiproxy) or per-chunk rolls

Send = Callable[[bytes, float], Awaitable[None]]


class FaultRequestError(FaultError):
    """A rejected fault request; ``status`` and ``error`` are Toxiproxy's HTTP answer."""

    def __init__(self, message: str, *, status: int = 400, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error if error is not None else message


class Ctx(Protocol):
    """What a toxic may do to the link it runs on."""

    @property
    def rng(self) -> random.Random: ...

    def now(self) -> float: ...

    async def sleep_until(self, deadline: float) -> bool:
        """Wait until loop time ``deadline``; False if the toxic was removed first."""
        ...

    async def hold(self) -> None:
        """Wait until the toxic is removed."""
        ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> None: ...

    def close(self) -> None:
        """Close the whole connection gracefully (data already sent is flushed)."""
        ...

    def reset(self) -> None:
        """Reset the whole connection: TCP RST to both peers (SO_LINGER 0)."""
        ...


@dataclass(frozen=True)
class Toxic:
    """Base of every toxic: Toxiproxy's wrapper fields plus ``toxicity_mode``."""

    TYPE: ClassVar[str] = ""
    name: str = ""
    stream: str = "downstream"
    toxicity: float = 1.0
    toxicity_mode: str = "connection"

    @property
    def type(self) -> str:
        return self.TYPE

    @classmethod
    def attribute_names(cls) -> tuple[str, ...]:
        base = {f.name for f in dataclasses.fields(Toxic)}
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in base)

    @property
    def attributes(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.attribute_names()}

    def to_json(self) -> dict[str, Any]:
        """Toxiproxy's JSON shape; ``toxicity_mode`` only appears when not the default."""
        out: dict[str, Any] = {
            "attributes": self.attributes,
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }
        if self.toxicity_mode != "connection":
            out["toxicity_mode"] = self.toxicity_mode
        return out

    # Hooks; the defaults make a noop toxic.
    def new_state(self) -> Any:
        return None

    def on_start(self, ctx: Ctx, state: Any) -> None:
        pass

    async def on_chunk(self, ctx: Ctx, state: Any, data: bytes, t: float, send: Send) -> None:
        await send(data, t)

    async def on_eof(self, ctx: Ctx, state: Any) -> None:
        pass


def _ms(value: int) -> float:
    return value / 1000.0


@dataclass(frozen=True)
class Latency(Toxic):
    """Delay each chunk by ``latency`` ± ``jitter`` ms from its arrival."""

    TYPE: ClassVar[str] = "latency"
    latency: int = 0
    jitter: int = 0

    async def on_chunk(self, ctx: Ctx, state: Any, data: bytes, t: float, send: Send) -> None:
        delay = self.latency
        if self.jitter > 0:
            delay += ctx.rng.randrange(2 * self.jitter) - self.jitter
        deadline = t + _ms(delay)
        if await ctx.sleep_until(deadline):
            await send(data, deadline)
        else:  # removed: let the chunk go now, as Toxiproxy does
            await send(data, ctx.now())


@dataclass
class _Deadline:
    at: float = 0.0


@dataclass(frozen=True)
class Bandwidth(Toxic):
    """Pass at most ``rate`` KB/s (1 KB = 1000 bytes); rate 0 lets nothing through."""

    TYPE: ClassVar[str] = "bandwidth"
    rate: int = 0

    def new_state(self) -> _Deadline:
        return _Deadline()

    async def on_chunk(self, ctx: Ctx, state: _Deadline, data: bytes, t: float, send: Send) -> None:
        if self.rate <= 0:
            await ctx.hold()
            await send(data, ctx.now())
            return
        piece = self.rate * 100  # bytes per 100 ms, Toxiproxy's slicing of large chunks
        offset = 0
        while offset < len(data):
            part = data[offset : offset + piece]
            # keep a little lateness credit so timer overshoot does not lower the rate
            state.at = max(state.at, ctx.now() - 0.005) + len(part) / (self.rate * 1000.0)
            if not await ctx.sleep_until(state.at):
                await send(data[offset:], ctx.now())
                return
            await send(part, state.at)
            offset += len(part)


@dataclass(frozen=True)
class SlowClose(Toxic):
    """Delay the close (EOF) by ``delay`` ms."""

    TYPE: ClassVar[str] = "slow_close"
    delay: int = 0

    async def on_eof(self, ctx: Ctx, state: Any) -> None:
        await ctx.sleep_until(ctx.now() + _ms(self.delay))


@dataclass(frozen=True)
class Timeout(Toxic):
    """Stop all data; close the connection after ``timeout`` ms (0: never).

    Held data flows again when the toxic is removed before the timeout.
    """

    TYPE: ClassVar[str] = "timeout"
    timeout: int = 0

    def on_start(self, ctx: Ctx, state: Any) -> None:
        if self.timeout > 0:
            ctx.call_later(_ms(self.timeout), ctx.close)

    async def on_chunk(self, ctx: Ctx, state: Any, data: bytes, t: float, send: Send) -> None:
        await ctx.hold()
        await send(data, ctx.now())

    async def on_eof(self, ctx: Ctx, state: Any) -> None:
        await ctx.hold()


@dataclass(frozen=True)
class ResetPeer(Toxic):
    """On the first data (or EOF), wait ``timeout`` ms, then reset the connection (RST)."""

    TYPE: ClassVar[str] = "reset_peer"
    timeout: int = 0

    async def _reset(self, ctx: Ctx) -> None:
        await asyncio.sleep(_ms(self.timeout))  # like Toxiproxy, removal does not cancel it
        ctx.reset()

    async def on_chunk(self, ctx: Ctx, state: Any, data: bytes, t: float, send: Send) -> None:
        await self._reset(ctx)  # the data is dropped

    async def on_eof(self, ctx: Ctx, state: Any) -> None:
        await self._reset(ctx)


@dataclass(frozen=True)
class Slicer(Toxic):
    """Slice chunks into ``average_size`` ± ``size_variation`` bytes, ``delay`` µs apart."""

    TYPE: ClassVar[str] = "slicer"
    average_size: int = 0
    size_variation: int = 0
    delay: int = 0

    def cuts(self, rng: random.Random, start: int, end: int) -> list[int]:
        """Slice boundaries of ``[start, end)``, halving with random variation."""
        if end - start <= 1 or (end - start) - self.average_size <= self.size_variation:
            return [start, end]
        var = self.size_variation
        mid = start + (end - start) // 2 + (rng.randrange(2 * var) - var if var > 0 else 0)
        mid = min(max(mid, start + 1), end - 1)
        return self.cuts(rng, start, mid)[:-1] + self.cuts(rng, mid, end)

    async def on_chunk(self, ctx: Ctx, state: Any, data: bytes, t: float, send: Send) -> None:
        bounds = self.cuts(ctx.rng, 0, len(data))
        for a, b in zip(bounds, bounds[1:]):
            await send(data[a:b], t)
            if b < len(data) and not await ctx.sleep_until(ctx.now() + self.delay / 1e6):
                await send(data[b:], ctx.now())
                return


@dataclass
class _Count:
    sent: int = 0


@dataclass(frozen=True)
class LimitData(Toxic):
    """Close the connection once ``bytes`` bytes have passed."""

    TYPE: ClassVar[str] = "limit_data"
    bytes: int = 0

    def new_state(self) -> _Count:
        return _Count()

    async def on_chunk(self, ctx: Ctx, state: _Count, data: builtins.bytes, t: float, send: Send) -> None:
        part = data[: max(0, self.bytes - state.sent)]
        if part:
            state.sent += len(part)
            await send(part, t)
        if state.sent >= self.bytes:
            ctx.close()


@dataclass(frozen=True)
class Stall(Toxic):
    """perfgate: forward nothing for ``duration`` ms (0: until removed), then resume; no data lost."""

    TYPE: ClassVar[str] = "stall"
    duration: int = 0

    def new_state(self) -> _Deadline:
        return _Deadline()

    def on_start(self, ctx: Ctx, state: _Deadline) -> None:
        state.at = ctx.now() + _ms(self.duration) if self.duration > 0 else math.inf

    async def _wait(self, ctx: Ctx, state: _Deadline) -> None:
        if ctx.now() < state.at and not await ctx.sleep_until(state.at):
            state.at = 0.0

    async def on_chunk(self, ctx: Ctx, state: _Deadline, data: bytes, t: float, send: Send) -> None:
        await self._wait(ctx, state)
        await send(data, max(t, ctx.now()))

    async def on_eof(self, ctx: Ctx, state: _Deadline) -> None:
        await self._wait(ctx, state)


TOXIC_TYPES: dict[str, type[Toxic]] = {
    cls.TYPE: cls for cls in (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData, Stall)
}


#: Toxiproxy's attributes are Go int64s.
INT64_MAX = 2**63 - 1


def _int_attr(toxic_type: str, key: str, value: object) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not math.isfinite(value))
        or value != int(value)
        or value > INT64_MAX
    ):
        raise FaultRequestError(
            f"{toxic_type} toxic: attribute {key!r} must be an integer, got {value!r}",
            error=f"bad request body: attribute {key} must be an integer",
        )
    if value < 0:
        raise FaultRequestError(
            f"{toxic_type} toxic: attribute {key!r} must be >= 0, got {value!r}",
            error=f"bad request body: attribute {key} must be >= 0",
        )
    return int(value)


def make_toxic(
    type: str,
    *,
    name: str = "",
    stream: str = "downstream",
    toxicity: float = 1.0,
    toxicity_mode: str = "connection",
    attributes: Mapping[str, object] | None = None,
    strict: bool = True,
) -> Toxic:
    """Build and validate a toxic; unknown attributes are errors when ``strict``.

    Checks run in Toxiproxy's order (stream, then type), and errors carry its
    HTTP status and message.
    """
    if stream not in STREAMS:
        raise FaultRequestError(
            f"invalid stream {stream!r} (key 'stream'): must be 'upstream' or 'downstream'",
            error="stream was invalid, can be either upstream or downstream",
        )
    cls = TOXIC_TYPES.get(type) if isinstance(type, str) else None
    if cls is None:
        known = ", ".join(sorted(TOXIC_TYPES))
        raise FaultRequestError(f"invalid toxic type {type!r} (key 'type'); known: {known}", error="invalid toxic type")
    if isinstance(toxicity, bool) or not isinstance(toxicity, (int, float)) or not 0.0 <= toxicity <= 1.0:
        raise FaultRequestError(
            f"toxicity must be a number from 0 to 1 (key 'toxicity'), got {toxicity!r}",
            error="bad request body: toxicity must be a number from 0 to 1",
        )
    if toxicity_mode not in MODES:
        raise FaultRequestError(
            f"toxicity_mode must be 'connection' or 'chunk' (key 'toxicity_mode'), got {toxicity_mode!r}",
            error="bad request body: toxicity_mode must be connection or chunk",
        )
    if not isinstance(name, str):
        raise FaultRequestError(
            f"toxic name must be a string (key 'name'), got {name!r}", error="bad request body: name must be a string"
        )
    allowed = cls.attribute_names()
    attrs: dict[str, int] = {}
    for key, value in (attributes or {}).items():
        if key in allowed:
            attrs[key] = _int_attr(type, key, value)
        elif strict:
            raise FaultRequestError(
                f"{type} toxic: unknown attribute {key!r}; known: {', '.join(allowed)}",
                error=f"bad request body: unknown attribute {key}",
            )
    return cls(
        name=name or f"{type}_{stream}",
        stream=stream,
        toxicity=float(toxicity),
        toxicity_mode=toxicity_mode,
        **attrs,
    )


def toxic_from_json(body: object) -> Toxic:
    """Parse Toxiproxy's toxic JSON (``POST /proxies/{proxy}/toxics``); lenient on extra keys."""
    if not isinstance(body, dict):
        raise FaultRequestError("toxic must be a JSON object", error="bad request body: expected an object")
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise FaultRequestError(
            "toxic 'attributes' must be an object", error="bad request body: attributes must be an object"
        )
    return make_toxic(
        body.get("type", ""),
        name=body.get("name") or "",
        stream=body.get("stream") or "downstream",
        toxicity=body.get("toxicity", 1.0),
        toxicity_mode=body.get("toxicity_mode") or "connection",
        attributes=attributes,
        strict=False,
    )


def updated_toxic(toxic: Toxic, body: object) -> Toxic:
    """Apply Toxiproxy's toxic update: ``attributes`` merged, ``toxicity`` kept unless given."""
    if not isinstance(body, dict):
        raise FaultRequestError("toxic update must be a JSON object", error="bad request body: expected an object")
    attributes = dict(toxic.attributes)
    new_attrs = body.get("attributes") or {}
    if not isinstance(new_attrs, dict):
        raise FaultRequestError(
            "toxic 'attributes' must be an object", error="bad request body: attributes must be an object"
        )
    attributes.update(new_attrs)
    return make_toxic(
        toxic.type,
        name=toxic.name,
        stream=toxic.stream,
        toxicity=body.get("toxicity", toxic.toxicity),
        toxicity_mode=body.get("toxicity_mode", toxic.toxicity_mode),
        attributes=attributes,
        strict=False,
    )
