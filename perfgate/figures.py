"""The typed figures a round's windows carry, one dataclass per kind of window: a fault, a
storm, a chaos action, a database failover, a redundant group's outage (part of the data
model: :mod:`perfgate.model` names them too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FaultFigures:
    """A scheduled fault as it was applied (:mod:`perfgate.faults.schedule`)."""

    link: str = ""  # the proxied link it hit
    toxic: str = ""
    planned_start_ns: int = 0
    planned_end_ns: int = 0
    spec: dict[str, Any] = field(default_factory=dict)  # the fault as configured: parse_fault reads it back


@dataclass(frozen=True)
class StormFigures:
    """One side's login storm (:mod:`perfgate.faults.storm`); times in ms, ``None`` if not seen."""

    logins: int = 0
    ok: int = 0
    errors: int = 0
    error_rate: float = 0.0
    release_spread_ms: float | None = None  # first to last storm client released
    connect_ms: float | None = None
    connections: int | None = None
    first_send_ns: int | None = None
    last_send_ns: int | None = None
    all_answered_ms: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class ChaosFigures:
    """One chaos action on a process, and what its liveness probes saw after it
    (:mod:`perfgate.faults.chaos`); ``None`` where nothing was seen."""

    action: str = ""
    process: str = ""
    at_s: float = 0.0
    for_s: float | None = None
    planned_ns: int = 0
    real_ns: int = 0
    late_ms: float | None = None
    restore_planned_ns: int | None = None
    restore_ns: int | None = None
    restore_done_ns: int | None = None
    detect_ms: float | None = None
    error_start_ns: int | None = None
    error_end_ns: int | None = None
    error_window_ms: float | None = None
    failed_probes: int = 0
    probes: int = 0
    recovered_ns: int | None = None
    recover_ms: float | None = None
    outage_ms: float | None = None
    steady_before: bool | None = None
    steady_after: bool | None = None
    error: str | None = None
    resumed_at_stop: bool = False


@dataclass(frozen=True)
class FailoverFigures:
    """What a database outage did to one side's service (:mod:`perfgate.faults.failover`);
    ``scenario`` is filled in when a stored round becomes evidence."""

    side: str = ""
    outage_s: float = 0.0
    detect_s: float | None = None  # onset to read-only
    recover_s: float | None = None  # end of the outage to read-write
    read_only_at_ns: int | None = None
    read_write_at_ns: int | None = None
    write_error_window_s: float = 0.0
    slowest_send_ms: float | None = None
    reads: int = 0
    reads_ok_rate: float | None = None
    errors_by_class: dict[str, int] = field(default_factory=dict)
    target_exited: bool = False
    acknowledged: int | None = None
    acked_lost: int | None = None
    scenario: str = ""


@dataclass(frozen=True)
class PhaseFigures:
    """Logins and chat in one phase of a group's outage (:mod:`perfgate.faults.redundancy`):
    counts and success rates of the requests answered in the phase, latencies of those sent in it."""

    phase: str = ""  # "all up", "one down", "two down", "3 down", "all down", "recovering"
    start_ns: int = 0  # of its first span
    end_ns: int = 0  # of its last span
    seconds: float = 0.0  # in all its spans
    spans: tuple[tuple[int, int], ...] = ()  # (start_ns, end_ns) of each time the round was in it
    logins: int = 0
    login_ok_rate: float | None = None
    login_p50_ms: float | None = None
    login_max_ms: float | None = None
    sends: int = 0
    send_ok_rate: float | None = None
    delivers: int = 0
    deliver_p50_ms: float | None = None


@dataclass(frozen=True)
class RedundancyFigures:
    """What the outage of a group of redundant dependencies did to one side's service, phase by
    phase (:mod:`perfgate.faults.redundancy`); ``scenario`` is filled in when it becomes evidence."""

    side: str = ""
    group: str = ""
    members: int = 0
    phases: tuple[PhaseFigures, ...] = ()
    shed_ms: tuple[float | None, ...] = ()  # per member outage: onset to the service's last use of it
    login_error_window_ms: float | None = None  # first to last failed login from the first onset
    all_down_ms: float | None = None  # how long every member was down
    recover_ms: float | None = None  # first member back after all-down, to the first good login
    chat_continuity: float | None = None  # good sends per second while all down / while all up
    target_exited: bool = False
    scenario: str = ""

    def phase(self, name: str) -> PhaseFigures | None:
        return next((p for p in self.phases if p.phase == name), None)


#: The figures a window carries, by its kind ("warmup" windows carry none).
WindowFigures = FaultFigures | StormFigures | ChaosFigures | FailoverFigures | RedundancyFigures
FIGURES_OF_KIND: dict[str, type[WindowFigures]] = {
    "fault": FaultFigures,
    "storm": StormFigures,
    "chaos": ChaosFigures,
    "failover": FailoverFigures,
    "redundancy": RedundancyFigures,
}
