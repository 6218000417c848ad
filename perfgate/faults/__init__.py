"""Fault injection: a Toxiproxy-compatible TCP proxy, timed fault schedules, a slowness monkey.

The public API is re-exported here; the modules behind it are private.
"""

from perfgate.faults.chaos import ChaosRunner, ChaosSpec, Managed, parse_chaos, target_process
from perfgate.faults.proxy import Proxy
from perfgate.faults.round import FaultPlan, SideFaults, plan_faults
from perfgate.faults.schedule import (
    DOWN,
    FaultSpec,
    MonkeyMix,
    parse_fault,
    parse_faults,
    parse_seconds,
    run_schedule,
    slowness_monkey,
)
from perfgate.faults.server import ProxyServer, ProxyThread, new_event_loop
from perfgate.faults.storm import StormImpact, storm_impact, storm_windows
from perfgate.faults.toxics import (
    MODES,
    STREAMS,
    TOXIC_TYPES,
    FaultRequestError,
    Toxic,
    make_toxic,
)

__all__ = [
    "ChaosRunner",
    "ChaosSpec",
    "FaultPlan",
    "Managed",
    "SideFaults",
    "StormImpact",
    "parse_chaos",
    "plan_faults",
    "storm_impact",
    "storm_windows",
    "target_process",
    "DOWN",
    "FaultSpec",
    "MonkeyMix",
    "parse_fault",
    "parse_faults",
    "parse_seconds",
    "run_schedule",
    "slowness_monkey",
    "MODES",
    "STREAMS",
    "TOXIC_TYPES",
    "FaultRequestError",
    "Proxy",
    "ProxyServer",
    "ProxyThread",
    "Toxic",
    "make_toxic",
    "new_event_loop",
]
