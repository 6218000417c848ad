"""Chaos actions on a schedule: kill, pause, resume or restart a process at T.

A round's ``[[scenarios.NAME.chaos]]`` tables become :class:`ChaosSpec` values
(:func:`parse_chaos`). The gate hands a :class:`ChaosRunner` the processes it owns
(:class:`ManagedProcess`: a pid, a ``restart()`` and a steady-state probe), starts
it at the round's start and stops it at the round's end. Meanwhile a probe polls
each affected process, and every action becomes a ``Window(kind="chaos")`` with
its time to detect, error window and time to recover.
"""

from __future__ import annotations

import contextlib
import enum
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from perfgate.errors import ConfigError, FaultError
from perfgate.faults.probe import ProbeFn, Prober, ProbeResult, as_probe, run_probe
from perfgate.faults.schedule import finite_number
from perfgate.figures import ChaosFigures
from perfgate.model import Window


class Action(enum.StrEnum):
    KILL = "kill"  # SIGKILL the process group; with `for`, restart() after it
    PAUSE = "pause"  # SIGSTOP; with `for`, SIGCONT after it
    RESUME = "resume"  # SIGCONT
    RESTART = "restart"  # the gate's restart()


_KEYS = ("at", "action", "process", "for")


@dataclass(frozen=True)
class ChaosSpec:
    at: float  # seconds from the round's start
    action: Action
    process: str = "target"
    duration: float | None = None  # the `for` key: pause -> auto-resume, kill -> auto-restart

    @property
    def label(self) -> str:
        return f"{self.action} {self.process}" + (f" for {self.duration:g}s" if self.duration else "")


def _number(value: Any, where: str, *, positive: bool) -> float:
    if not finite_number(value):
        raise ConfigError(f"{where}: must be a number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ConfigError(f"{where}: must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def parse_chaos(items: Iterable[Any], where: str = "chaos") -> tuple[ChaosSpec, ...]:
    """Validate chaos tables (``at``, ``action``, ``process``, ``for``); errors name the key."""
    specs = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{here}: must be a table")
        for key in item:
            if key not in _KEYS:
                raise ConfigError(f"{here}.{key}: unknown key (expected one of {', '.join(_KEYS)})")
        for key in ("at", "action"):
            if key not in item:
                raise ConfigError(f"{here}.{key}: is required")
        at = _number(item["at"], f"{here}.at", positive=False)
        try:
            action = Action(item["action"])
        except ValueError:
            allowed = ", ".join(a.value for a in Action)
            raise ConfigError(f"{here}.action: must be one of {allowed}, got {item['action']!r}") from None
        process = item.get("process", "target")
        if not isinstance(process, str) or not process:
            raise ConfigError(f"{here}.process: must be a non-empty string, got {process!r}")
        duration = None
        if "for" in item:
            if action not in (Action.PAUSE, Action.KILL):
                raise ConfigError(f"{here}.for: only pause and kill take a duration, not {action}")
            duration = _number(item["for"], f"{here}.for", positive=True)
        specs.append(ChaosSpec(at, action, process, duration))
    _check_sequence(specs, where)
    return tuple(specs)


def _check_sequence(specs: list[ChaosSpec], where: str) -> None:
    """A pause must not hit a paused process, and a resume needs one."""
    paused_until: dict[str, float] = {}
    for i, spec in sorted(enumerate(specs), key=lambda x: x[1].at):
        paused = paused_until.get(spec.process, -1.0) > spec.at
        if spec.action is Action.PAUSE:
            if paused:
                raise ConfigError(f"{where}[{i}].at: {spec.process!r} is already paused at {spec.at:g}s")
            paused_until[spec.process] = spec.at + spec.duration if spec.duration else math.inf
        elif spec.action is Action.RESUME:
            if paused_until.get(spec.process) != math.inf:
                raise ConfigError(
                    f"{where}[{i}].action: resume at {spec.at:g}s, but {spec.process!r} "
                    "is not paused then (by a pause without `for`)"
                )
            paused_until.pop(spec.process)
        else:
            paused_until.pop(spec.process, None)


class ManagedProcess(Protocol):
    """What the gate hands the runner for each process it owns."""

    name: str
    probe: str | ProbeFn  # an http:// URL (GET -> 200) or a callable

    def pid(self) -> int | None:
        """The current pid (a process-group leader is signalled as a group); None if not running."""

    def restart(self) -> None:
        """Stop (reap) and start the process again; return once it is ready or raise."""


@dataclass
class Managed:
    """A ready-made :class:`ManagedProcess` from callables."""

    name: str
    pid_fn: Callable[[], int | None]
    restart_fn: Callable[[], None]
    probe: str | ProbeFn

    def pid(self) -> int | None:
        return self.pid_fn()

    def restart(self) -> None:
        self.restart_fn()


def target_process(target: Any, name: str = "target") -> Managed:
    """Adapt a :class:`perfgate.target.Target`: restart = stop, then start and wait ready; the
    steady-state probe is the target's own ready probe (HTTP or TCP)."""

    def pid() -> int | None:
        proc = target.proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def restart() -> None:
        target.stop()
        target.start()

    return Managed(name, pid, restart, lambda: bool(target.answers(timeout=0.5)))


def _signal(proc: ManagedProcess, sig: int) -> None:
    pid = proc.pid()
    if pid is None:
        raise FaultError(f"chaos: process {proc.name!r} is not running")
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        raise FaultError(f"chaos: process {proc.name!r} (pid {pid}) is not running") from None


@dataclass(frozen=True)
class _Step:
    at: float
    index: int  # of the spec
    kind: str  # "kill", "stop", "cont", "restart"
    restores: bool  # the step that brings the process back (recovery is timed from it)


def _steps(specs: tuple[ChaosSpec, ...]) -> list[_Step]:
    steps = []
    for i, s in enumerate(specs):
        if s.action is Action.KILL:
            steps.append(_Step(s.at, i, "kill", False))
            if s.duration:
                steps.append(_Step(s.at + s.duration, i, "restart", True))
        elif s.action is Action.PAUSE:
            steps.append(_Step(s.at, i, "stop", False))
            if s.duration:
                steps.append(_Step(s.at + s.duration, i, "cont", True))
        else:
            steps.append(_Step(s.at, i, "cont" if s.action is Action.RESUME else "restart", True))
    return sorted(steps, key=lambda st: st.at)


class ChaosRunner:
    """Runs a chaos schedule in a thread, with one probe thread per affected process.

    ``start(t0_ns)`` at the round's start, ``stop()`` at its end (it returns the
    windows); ``wait(timeout)`` blocks until the schedule is done and every affected
    process answers its probe again. Everything is bounded by ``stop()``.
    """

    def __init__(
        self,
        specs: Iterable[ChaosSpec],
        processes: Iterable[ManagedProcess],
        *,
        probe_interval: float = 0.05,
        probe_timeout: float = 0.5,
        restart_timeout: float = 60.0,
    ):
        self.specs = tuple(specs)
        self.processes = {p.name: p for p in processes}
        for i, spec in enumerate(self.specs):
            if spec.process not in self.processes:
                known = ", ".join(sorted(self.processes)) or "none"
                raise FaultError(f"chaos[{i}].process: no managed process {spec.process!r} (known: {known})")
        names = sorted({s.process for s in self.specs})
        self.probes: dict[str, ProbeFn] = {n: as_probe(self.processes[n].probe, probe_timeout) for n in names}
        self.probers = {n: Prober(n, self.probes[n], probe_interval) for n in names}
        self.restart_timeout = restart_timeout
        self._records: list[dict[str, Any]] = [{} for _ in self.specs]
        self._paused: set[str] = set()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos")
        self._done = threading.Event()
        self.t0_ns = 0
        self.stopped_ns: int | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self, t0_ns: int | None = None) -> None:
        self.t0_ns = t0_ns or time.time_ns()
        for prober in self.probers.values():
            prober.start()
        self._thread.start()

    def wait(self, timeout: float) -> bool:
        """Until the schedule ran and every affected process is steady again (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        if not self._done.wait(timeout):
            return False
        while time.monotonic() < deadline:
            latest = [p.latest() for p in self.probers.values()]
            done_ns = max((r.get("done_ns", 0) for r in self._records), default=0)
            if all(r is not None and r.ok and r.start_ns > done_ns for r in latest):
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> tuple[Window, ...]:
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(self.restart_timeout + 5)
        for prober in self.probers.values():
            prober.stop()
        for name in sorted(self._paused):  # never leave a process stopped behind us
            with contextlib.suppress(FaultError):
                _signal(self.processes[name], signal.SIGCONT)
            for record in self._records:
                if record.get("process") == name:
                    record["resumed_at_stop"] = True
        self._paused.clear()
        self.stopped_ns = self.stopped_ns or time.time_ns()
        return self.windows()

    # -- the schedule thread ---------------------------------------------------------

    def _run(self) -> None:
        base = time.monotonic() - (time.time_ns() - self.t0_ns) / 1e9
        try:
            for step in _steps(self.specs):
                if self._halt.wait(max(0.0, base + step.at - time.monotonic())):
                    return
                self._execute(step)
        finally:
            self._done.set()

    def _execute(self, step: _Step) -> None:
        spec = self.specs[step.index]
        proc = self.processes[spec.process]
        record = self._records[step.index]
        record.setdefault("process", spec.process)
        if not step.restores or "real_ns" not in record:
            before = self.probers[spec.process].latest()
            if before is None:
                before = run_probe(self.probes[spec.process])
            record["steady_before"] = before.ok
        prefix = "restore_" if step.restores and spec.action in (Action.KILL, Action.PAUSE) else ""
        record[f"{prefix}planned_ns"] = self.t0_ns + int(step.at * 1e9)
        if step.restores:  # back from the moment it is restored (a restart then takes its time)
            record[f"{prefix}real_ns"] = record["restore_ns"] = time.time_ns()
        try:
            if step.kind == "kill":
                _signal(proc, signal.SIGKILL)
                self._paused.discard(spec.process)
            elif step.kind == "stop":
                _signal(proc, signal.SIGSTOP)
                self._paused.add(spec.process)
            elif step.kind == "cont":
                _signal(proc, signal.SIGCONT)
                self._paused.discard(spec.process)
            else:
                self._paused.discard(spec.process)
                proc.restart()
        except Exception as exc:  # a failed restart is an outcome of the round, kept in the window
            record["error"] = f"{type(exc).__name__}: {exc}"[:300]
        if not step.restores:  # down from the signal on: a busy thread may read the clock well before it
            record["real_ns"] = time.time_ns()
        record["done_ns"] = time.time_ns()

    # -- the figures ------------------------------------------------------------------

    def windows(self) -> tuple[Window, ...]:
        """One chaos window per action that ran, from the probe results so far."""
        out = []
        for i, spec in enumerate(self.specs):
            record = self._records[i]
            if "real_ns" not in record:
                continue
            seg_end = min(
                [
                    self._records[j]["real_ns"]
                    for j, s in enumerate(self.specs)
                    if s.process == spec.process and self._records[j].get("real_ns", 0) > record["real_ns"]
                ]
                or [self.stopped_ns or time.time_ns()]
            )
            results = self.probers[spec.process].results()
            detail = figures(spec, record, [r for r in results if record["real_ns"] < r.end_ns <= seg_end])
            end = max(
                v
                for v in (record["real_ns"], detail.recovered_ns, detail.error_end_ns, record.get("done_ns"))
                if v is not None
            )
            out.append(Window(kind="chaos", label=spec.label, start_ns=record["real_ns"], end_ns=end, detail=detail))
        return tuple(out)


def figures(spec: ChaosSpec, record: dict[str, Any], results: list[ProbeResult]) -> ChaosFigures:
    """Detect, error window and recovery of one action from the probe results after it."""
    real = record["real_ns"]
    restore = record.get("restore_ns")
    fails = [r for r in results if not r.ok]
    recovered = None
    if fails:
        recovered = next((r.end_ns for r in results if r.ok and r.end_ns > fails[-1].end_ns), None)
    elif restore is not None:
        recovered = next((r.end_ns for r in results if r.ok and r.end_ns >= restore), None)

    def ms(a: float | None, b: float | None) -> float | None:
        return (b - a) / 1e6 if a is not None and b is not None else None

    return ChaosFigures(
        action=spec.action.value,
        process=spec.process,
        at_s=spec.at,
        for_s=spec.duration,
        planned_ns=record["planned_ns"],
        real_ns=real,
        late_ms=ms(record["planned_ns"], real),
        restore_planned_ns=record.get("restore_planned_ns", record["planned_ns"] if restore else None),
        restore_ns=restore,
        restore_done_ns=record.get("done_ns") if restore is not None else None,
        detect_ms=ms(real, fails[0].end_ns) if fails else None,
        error_start_ns=fails[0].end_ns if fails else None,
        error_end_ns=fails[-1].end_ns if fails else None,
        error_window_ms=ms(fails[0].end_ns, fails[-1].end_ns) if fails else None,
        failed_probes=len(fails),
        probes=len(results),
        recovered_ns=recovered,
        recover_ms=ms(restore, recovered) if restore is not None else None,
        outage_ms=ms(fails[0].end_ns, recovered) if fails else None,
        steady_before=record.get("steady_before"),
        steady_after=results[-1].ok if results else None,
        error=record.get("error"),
        resumed_at_stop=record.get("resumed_at_stop", False),
    )
