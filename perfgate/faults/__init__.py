"""Fault injection: a Toxiproxy-compatible TCP proxy, timed fault schedules, a slowness monkey.

The public API is re-exported here; the modules behind it are private.
"""

from perfgate.faults.proxy import Proxy
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
from perfgate.faults.toxics import (
    MODES,
    STREAMS,
    TOXIC_TYPES,
    FaultRequestError,
    Toxic,
    make_toxic,
)

__all__ = [
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
