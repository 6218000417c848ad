"""Fault injection: a Toxiproxy-compatible TCP proxy, timed fault schedules, a slowness monkey,
chaos actions and the login storm's read-back.

Every module here is public; the names most callers need are re-exported below. Other
stages import these modules directly:

- :mod:`perfgate.faults.round` (``FaultPlan``, ``SideFaults``, ``plan_faults``): a scenario's
  faults for one round (the gate plans, the rig applies);
- :mod:`perfgate.faults.storm` (``storm_windows``): storm windows from a round's samples (the gate);
- :mod:`perfgate.faults.chaos` (``Managed``, ``target_process``): processes chaos may act on (the rig);
- :mod:`perfgate.faults.group` (``GroupSpec``, ``scenario_groups``): a scenario's groups of redundant
  dependency processes, one link per member (the rig);
- :mod:`perfgate.faults.failover` (``failover_figures``, ``failover_window``): what a database
  outage did (the rig);
- :mod:`perfgate.faults.redundancy` (``redundancy_figures``, ``redundancy_window``): what the
  outage of a group's members did, per phase (the rig);
- :mod:`perfgate.faults.api` (``run_api``, ``load_populate_file``): Toxiproxy's HTTP API
  (``perfgate proxy serve``).

Behind them: :mod:`perfgate.faults.toxics` (the toxics), :mod:`perfgate.faults.proxy` (one
proxy), :mod:`perfgate.faults.link` (its connections), :mod:`perfgate.faults.server` (a set of
proxies, in a thread), :mod:`perfgate.faults.schedule` (timed faults, the slowness monkey) and
:mod:`perfgate.faults.probe` (the steady-state probe). Names with a leading underscore are
private, as everywhere in perfgate.
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
    start_schedule,
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
    "start_schedule",
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
