"""Timed fault schedules and the seeded slowness monkey.

A schedule is a list of :class:`FaultSpec` — "at T for D, toxic X on link L" —
parsed from plain dicts such as a ``[[faults]]`` table of perfgate.toml::

    [[faults]]
    at = "10s"          # seconds from the schedule's start (a number, or "250ms", "2s", "1m")
    for = "5s"
    link = "db"         # the proxy's name
    toxic = "latency"   # any toxic type, or "down" (the proxy stops listening)
    stream = "downstream"
    toxicity = 1.0
    latency = 200       # the toxic's own attributes

:func:`run_schedule` applies them to in-process proxies and returns one
:class:`~perfgate.model.Window` per entry, with the real onset and end
(``time.time_ns()``) and the planned ones in ``detail``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from perfgate.errors import FaultError
from perfgate.faults.server import ProxyServer, ProxyThread
from perfgate.faults.toxics import STREAMS, FaultRequestError, make_toxic
from perfgate.figures import FaultFigures
from perfgate.model import Window
from perfgate.units import seconds

DOWN = "down"  # not a toxic: the proxy is disabled for the window, as Toxiproxy's "down"
_FIELDS = {"at", "for", "link", "toxic", "stream", "toxicity", "toxicity_mode"}


@dataclass(frozen=True)
class FaultSpec:
    """One scheduled fault: ``toxic`` on proxy ``proxy`` from ``at_s`` for ``duration_s``."""

    at_s: float
    duration_s: float
    proxy: str
    toxic: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, int] = field(default_factory=dict, hash=False)
    toxicity_mode: str = "connection"

    @property
    def label(self) -> str:
        attrs = " ".join(f"{k}={v}" for k, v in self.attributes.items())
        what = self.toxic if self.toxic == DOWN else f"{self.toxic} {self.stream}"
        return f"{what}{' ' + attrs if attrs else ''} on {self.proxy}"

    def to_dict(self) -> dict[str, Any]:
        """The plain-dict form :func:`parse_fault` reads back."""
        out: dict[str, Any] = {"at": self.at_s, "for": self.duration_s, "link": self.proxy, "toxic": self.toxic}
        if self.toxic != DOWN:
            out.update(stream=self.stream, toxicity=self.toxicity, **self.attributes)
            if self.toxicity_mode != "connection":
                out["toxicity_mode"] = self.toxicity_mode
        return out


def finite_number(value: object) -> bool:
    """A real number (not a bool) that is a finite float: not NaN, not infinite, no int beyond float's range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def parse_seconds(value: object, key: str, where: str = "fault") -> float:
    """A duration in seconds (:func:`perfgate.units.seconds`: 5, ``"250ms"``, ``"2s"``, ``"1.5m"``)."""
    parsed = seconds(value)
    if parsed is not None:
        return parsed
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        problem = "must be >= 0" if finite_number(value) else "must be a finite duration"
        raise FaultError(f"{where}: {key!r} {problem}, got {value!r}")
    raise FaultError(f'{where}: {key!r} must be a duration such as 5, "250ms" or "2s", got {value!r}')


def parse_fault(entry: Mapping[str, Any], where: str = "fault") -> FaultSpec:
    """Validate one plain dict into a :class:`FaultSpec`; errors name ``where`` and the key."""
    if not isinstance(entry, Mapping):
        raise FaultError(f"{where}: must be a table of keys, got {entry!r}")
    for key in ("at", "for", "link", "toxic"):
        if key not in entry:
            raise FaultError(f"{where}: missing key {key!r}")
    at = parse_seconds(entry["at"], "at", where)
    duration = parse_seconds(entry["for"], "for", where)
    if duration <= 0:
        raise FaultError(f"{where}: 'for' must be > 0, got {entry['for']!r}")
    link, toxic = entry["link"], entry["toxic"]
    if not isinstance(link, str) or not link:
        raise FaultError(f"{where}: 'link' must be a proxy name, got {link!r}")
    attributes = {k: v for k, v in entry.items() if k not in _FIELDS}
    if toxic == DOWN:
        if attributes:
            raise FaultError(f"{where}: toxic 'down' takes no attributes, got {sorted(attributes)[0]!r}")
        return FaultSpec(at, duration, link, DOWN)
    try:
        made = make_toxic(
            toxic,
            stream=entry.get("stream", "downstream"),
            toxicity=entry.get("toxicity", 1.0),
            toxicity_mode=entry.get("toxicity_mode", "connection"),
            attributes=attributes,
        )
    except FaultRequestError as exc:
        raise FaultError(f"{where}: {exc}") from None
    return FaultSpec(at, duration, link, made.type, made.stream, made.toxicity, made.attributes, made.toxicity_mode)


def parse_faults(entries: Iterable[Mapping[str, Any]], where: str = "faults") -> list[FaultSpec]:
    """Parse a ``[[faults]]`` array; entry errors are named ``faults[i]``."""
    return [parse_fault(e, f"{where}[{i}]") for i, e in enumerate(entries)]


async def run_schedule(
    srv: ProxyServer,
    specs: Iterable[FaultSpec | Mapping[str, Any]],
    *,
    prefix: str = "perfgate_fault",
) -> list[Window]:
    """Run a schedule from now; return one ``kind="fault"`` window per entry, in entry order.

    Overlapping entries run concurrently. Cancelling the task removes whatever
    is applied at that moment. ``detail`` holds the spec and the planned onset
    and end (``planned_start_ns``, ``planned_end_ns``).
    """
    plan = [s if isinstance(s, FaultSpec) else parse_fault(s, f"faults[{i}]") for i, s in enumerate(specs)]
    for i, s in enumerate(plan):
        if s.proxy not in srv.proxies:
            raise FaultError(f"faults[{i}]: link {s.proxy!r} is not a proxy (known: {sorted(srv.proxies)})")
    loop = asyncio.get_running_loop()
    t0_ns, t0 = time.time_ns(), time.monotonic()  # in this order: planned times never come late
    tasks = [loop.create_task(_one(srv, s, f"{prefix}_{i}", t0, t0_ns)) for i, s in enumerate(plan)]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline`` (uvloop's timers may wake up to 1 ms early)."""
    for _ in range(1000):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(remaining)


async def _one(srv: ProxyServer, spec: FaultSpec, name: str, t0: float, t0_ns: int) -> Window:
    await _sleep_until(t0 + spec.at_s)
    proxy = srv.get(spec.proxy)
    if spec.toxic == DOWN:
        await proxy.stop()
    else:
        proxy.add_toxic(
            make_toxic(
                spec.toxic,
                name=name,
                stream=spec.stream,
                toxicity=spec.toxicity,
                toxicity_mode=spec.toxicity_mode,
                attributes=spec.attributes,
            )
        )
    start_ns = time.time_ns()
    try:
        await _sleep_until(t0 + spec.at_s + spec.duration_s)
    finally:
        if spec.toxic == DOWN:
            await proxy.start()
        elif any(t.name == name for t in proxy.toxics):  # a reset may have removed it already
            proxy.remove_toxic(name)
    end_ns = time.time_ns()
    figures = FaultFigures(
        link=spec.proxy,
        toxic=spec.toxic,
        planned_start_ns=t0_ns + round(spec.at_s * 1e9),
        planned_end_ns=t0_ns + round((spec.at_s + spec.duration_s) * 1e9),
        spec=spec.to_dict(),
    )
    return Window("fault", spec.label, start_ns, end_ns, figures)


@dataclass(frozen=True)
class MonkeyMix:
    """What the slowness monkey draws: weights of each kind and ranges of its parameters (ms)."""

    stall: float = 1.0
    latency: float = 1.0
    reset_peer: float = 0.0
    stall_ms: tuple[float, float] = (200.0, 2000.0)  # how long traffic stops
    latency_ms: tuple[float, float] = (50.0, 500.0)  # added delay during a spike
    spike_ms: tuple[float, float] = (500.0, 5000.0)  # how long a latency spike lasts
    reset_window_ms: tuple[float, float] = (50.0, 500.0)  # connections sending then are reset
    stream: str = "downstream"

    def __post_init__(self) -> None:
        weights = {"stall": self.stall, "latency": self.latency, "reset_peer": self.reset_peer}
        for key, w in weights.items():
            if not (finite_number(w) and w >= 0):
                raise FaultError(f"monkey mix: weight {key!r} must be a finite number >= 0, got {w!r}")
        if sum(weights.values()) <= 0:
            raise FaultError("monkey mix: at least one of 'stall', 'latency', 'reset_peer' must be > 0")
        for key in ("stall_ms", "latency_ms", "spike_ms", "reset_window_ms"):
            bounds = getattr(self, key)
            if len(bounds) != 2 or not all(finite_number(b) for b in bounds) or not 0 <= bounds[0] <= bounds[1]:
                raise FaultError(
                    f"monkey mix: {key!r} must be a range [low, high] of finite numbers with "
                    f"0 <= low <= high, got {list(bounds)!r}"
                )
        if self.stream not in STREAMS:
            raise FaultError(f"monkey mix: 'stream' must be 'upstream' or 'downstream', got {self.stream!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MonkeyMix:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise FaultError(f"monkey mix: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
        for key, value in d.items():
            if key.endswith("_ms") and not isinstance(value, (list, tuple)):
                raise FaultError(f"monkey mix: {key!r} must be a range [low, high], got {value!r}")
        kwargs: dict[str, Any] = {k: tuple(v) if k.endswith("_ms") else v for k, v in d.items()}
        return cls(**kwargs)


def slowness_monkey(
    seed: int,
    duration_s: float,
    mean_interval_s: float,
    links: Sequence[str],
    mix: MonkeyMix | None = None,
    *,
    max_faults: int = 10_000,
) -> list[FaultSpec]:
    """Draw a deterministic fault list: the same arguments always give the same faults.

    Onsets form a Poisson process of mean gap ``mean_interval_s``; each fault's
    kind, link and parameters are drawn from ``mix``; a fault ends by ``duration_s``.
    """
    mix = mix or MonkeyMix()
    if not links:
        raise FaultError("slowness monkey: 'links' is empty")
    if not mean_interval_s > 0:
        raise FaultError(f"slowness monkey: 'mean_interval' must be > 0, got {mean_interval_s!r}")
    rng = random.Random(seed)
    kinds = ["stall", "latency", "reset_peer"]
    weights = [mix.stall, mix.latency, mix.reset_peer]
    specs: list[FaultSpec] = []
    t = 0.0
    while len(specs) < max_faults:
        t += rng.expovariate(1.0 / mean_interval_s)
        if t >= duration_s:
            break
        kind = rng.choices(kinds, weights)[0]
        link = links[rng.randrange(len(links))]
        if kind == "stall":
            ms = rng.uniform(*mix.stall_ms)
            length, attrs = ms / 1000, {"duration": round(ms)}
        elif kind == "latency":
            length, attrs = rng.uniform(*mix.spike_ms) / 1000, {"latency": round(rng.uniform(*mix.latency_ms))}
        else:
            length, attrs = rng.uniform(*mix.reset_window_ms) / 1000, {"timeout": 0}
        length = round(min(length, duration_s - t), 6)
        if length > 0:
            specs.append(FaultSpec(round(t, 6), length, link, kind, mix.stream, 1.0, attrs))
    return specs


__all__ = [
    "DOWN",
    "FaultSpec",
    "finite_number",
    "MonkeyMix",
    "parse_fault",
    "parse_faults",
    "parse_seconds",
    "run_schedule",
    "slowness_monkey",
]


def start_schedule(
    thread: ProxyThread, specs: Iterable[FaultSpec | Mapping[str, Any]]
) -> concurrent.futures.Future[list[Window]]:
    """Start a fault schedule on ``thread``'s proxies now; the future gives its windows
    (cancel it to stop early)."""
    return thread.submit(run_schedule(thread.running(), specs))
