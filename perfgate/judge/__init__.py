"""The judge: pure statistics over stored rounds, returning a :class:`~perfgate.model.Verdict`.

Nothing here does I/O. See docs/architecture.md, "Statistics".
"""

from perfgate.judge.changepoint import change_points
from perfgate.judge.compare import holm_levels, judge
from perfgate.judge.invariants import failover_checks, redundancy_checks, with_checks
from perfgate.judge.rounds import (
    ALL_NAMES,
    RESOURCE_METRICS,
    ROUND_METRICS,
    TARGET_NAME,
    resource_metrics,
    round_metrics,
)
from perfgate.judge.rules import ERROR_RATE_FLOOR, MIN_PAIRS
from perfgate.judge.sequential import (
    LOOKS,
    look_index,
    look_levels,
    look_schedule,
    needs_confirmation,
    next_look_pairs,
    pairs_to_buy,
)

__all__ = [
    "ALL_NAMES",
    "ERROR_RATE_FLOOR",
    "LOOKS",
    "MIN_PAIRS",
    "RESOURCE_METRICS",
    "ROUND_METRICS",
    "TARGET_NAME",
    "change_points",
    "failover_checks",
    "holm_levels",
    "judge",
    "look_index",
    "look_levels",
    "look_schedule",
    "needs_confirmation",
    "next_look_pairs",
    "pairs_to_buy",
    "redundancy_checks",
    "resource_metrics",
    "round_metrics",
    "with_checks",
]
