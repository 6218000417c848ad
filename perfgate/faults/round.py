"""Faults for one round: what a scenario asks for, applied to one side's target.

A scenario's ``faults`` (timed toxics), ``monkey`` (the seeded slowness monkey)
and ``chaos`` (kill, pause, resume, restart) become a :class:`FaultPlan` once,
at plan time, so bad config fails before anything starts. Each side of each
round then gets a :class:`SideFaults`: a proxy named ``target`` in front of the
target (only when there are toxics to apply), the schedule, and the chaos
runner. Both sides get the same plan, so a duet round hurts them alike.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass, field, replace
from typing import Any

from perfgate.config import ScenarioConfig
from perfgate.errors import ConfigError, FaultError
from perfgate.faults.chaos import ChaosRunner, ChaosSpec, parse_chaos
from perfgate.faults.group import expand_groups, scenario_groups, without_group_keys
from perfgate.faults.schedule import FaultSpec, MonkeyMix, parse_faults, parse_seconds, slowness_monkey, start_schedule
from perfgate.faults.server import ProxyThread
from perfgate.model import Window

#: The links a scenario can put toxics on, and the processes chaos can act on:
#: the target, and (with ``database = "mariadb"``) the database primary; and each member
#: of the scenario's groups (perfgate.faults.group).
LINKS = ("target", "primary")
MONKEY_KEYS = ("seed", "mean_interval", "links", "start", "duration", "mix")


@dataclass(frozen=True)
class FaultPlan:
    faults: tuple[FaultSpec, ...] = ()
    chaos: tuple[ChaosSpec, ...] = ()
    seed: int = 0

    @property
    def empty(self) -> bool:
        return not self.faults and not self.chaos


def plan_faults(scenario: ScenarioConfig) -> FaultPlan:
    """Validate and expand a scenario's faults; errors name the scenario and the key."""
    where = f"scenarios.{scenario.name}"
    round_s = scenario.warmup + scenario.duration
    groups = scenario_groups(scenario.groups)
    try:
        parse_faults(without_group_keys(scenario.faults), where=f"{where}.faults")
        faults = list(
            parse_faults(expand_groups(scenario.faults, groups, "link", f"{where}.faults"), f"{where}.faults")
        )
        monkey = dict(scenario.monkey)
        if monkey:
            faults += _monkey(monkey, f"{where}.monkey", round_s)
    except FaultError as exc:
        raise ConfigError(str(exc)) from exc
    known = (LINKS if scenario.database else LINKS[:1]) + tuple(m for g in groups for m in g.member_names)
    for i, spec in enumerate(faults):
        if spec.proxy not in known:
            raise ConfigError(
                f"{where}.faults[{i}].link: unknown link {spec.proxy!r} (known: {', '.join(known)}"
                + ("" if scenario.database else "; 'primary' needs database = \"mariadb\"")
                + ")"
            )
        if spec.at_s + spec.duration_s > round_s:
            raise ConfigError(
                f"{where}.faults[{i}]: at + for = {spec.at_s + spec.duration_s:g}s ends after "
                f"the round ({round_s:g}s of warm-up and duration)"
            )
    parse_chaos(without_group_keys(scenario.chaos), where=f"{where}.chaos")
    chaos = parse_chaos(expand_groups(scenario.chaos, groups, "process", f"{where}.chaos"), where=f"{where}.chaos")
    for i, action in enumerate(chaos):
        if action.process not in known:
            raise ConfigError(
                f"{where}.chaos[{i}].process: unknown process {action.process!r} (known: {', '.join(known)})"
            )
        if action.at > round_s:
            raise ConfigError(f"{where}.chaos[{i}].at: {action.at:g}s is after the round ends ({round_s:g}s)")
    return FaultPlan(tuple(faults), chaos, int(monkey.get("seed", 0)))


def _monkey(raw: dict[str, Any], where: str, round_s: float) -> list[FaultSpec]:
    for key in raw:
        if key not in MONKEY_KEYS:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(MONKEY_KEYS)})")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{where}.seed: must be an integer, got {seed!r}")
    start = parse_seconds(raw.get("start", 0.0), "start", where)
    duration = parse_seconds(raw.get("duration", max(round_s - start, 0.0)), "duration", where)
    mean_interval = parse_seconds(raw.get("mean_interval", 5.0), "mean_interval", where)
    links = raw.get("links", ["target"])
    if not isinstance(links, list) or not all(isinstance(link, str) for link in links):
        raise ConfigError(f"{where}.links: must be a list of link names, got {links!r}")
    mix = raw.get("mix", {})
    if not isinstance(mix, dict):
        raise ConfigError(f"{where}.mix: must be a table, got {mix!r}")
    drawn = slowness_monkey(seed, duration, mean_interval, links, MonkeyMix.from_dict(mix))
    return [_shift(spec, start) for spec in drawn]


def _shift(spec: FaultSpec, seconds: float) -> FaultSpec:
    from dataclasses import replace

    return replace(spec, at_s=spec.at_s + seconds)


@dataclass
class SideFaults:
    """One side's proxy, schedule and chaos runner for one round. Use as a context manager."""

    plan: FaultPlan
    side: str
    upstreams: dict[str, str]  # link -> the HOST:PORT it forwards to
    processes: list[Any]  # perfgate.faults.chaos.ManagedProcess, for chaos actions
    proxy: ProxyThread | None = None
    chaos: ChaosRunner | None = None
    _schedule: concurrent.futures.Future[list[Window]] | None = None
    _windows: list[Window] = field(default_factory=list)
    _closed: bool = False

    def __enter__(self) -> SideFaults:
        links = sorted({spec.proxy for spec in self.plan.faults})
        if links:
            self.proxy = ProxyThread(seed=self.plan.seed).start()
            for link in links:
                self.proxy.create(link, upstream=self.upstreams[link])
        if self.plan.chaos:
            self.chaos = ChaosRunner(self.plan.chaos, self.processes)
        return self

    def address(self, link: str) -> str:
        """Where clients of ``link`` should connect: through the proxy when it has faults."""
        server = self.proxy.server if self.proxy is not None else None
        if server is None or link not in server.proxies:
            return self.upstreams[link]
        return f"127.0.0.1:{server.get(link).listen_port}"

    def start(self, t0_ns: int) -> None:
        if self.proxy is not None:
            self._schedule = start_schedule(self.proxy, self.plan.faults)
        if self.chaos is not None:
            self.chaos.start(t0_ns)

    def windows(self) -> tuple[Window, ...]:
        return tuple(self._windows)

    def __exit__(self, exc_type: object, *_: object) -> None:
        """Stop the schedule and the chaos runner, collect their windows, close the proxy. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._schedule is not None and exc_type is not None:
                self._schedule.cancel()
            elif self._schedule is not None:
                self._collect_schedule()
            if self.chaos is not None:
                self._windows += self.chaos.stop()
        finally:
            if self.proxy is not None:
                self.proxy.stop()
        self._windows = [_with_side(w, self.side) for w in self._windows]

    def _collect_schedule(self) -> None:
        assert self._schedule is not None
        end = max((s.at_s + s.duration_s for s in self.plan.faults), default=0.0)
        try:
            self._windows += self._schedule.result(timeout=end + 2.0)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            self._schedule.cancel()  # the round ended early: nothing of the schedule is kept on
            time.sleep(0.05)


def _with_side(window: Window, side: str) -> Window:
    return replace(window, side=side)
