"""A scenario's :class:`~perfgate.load.runner.LoadSpec` for one round: the config's load
settings, the generator's CPUs, and a live round's limits (rate, what is left of the request
cap, the error-rate abort)."""

from __future__ import annotations

from perfgate.config import Config, ScenarioConfig
from perfgate.live import LiveBudget
from perfgate.load.runner import LoadLimits, LoadSpec, LoadTarget
from perfgate.machine import cpu_placement


def load_spec(
    config: Config, scenario: ScenarioConfig, targets: tuple[LoadTarget, ...], budget: LiveBudget | None = None
) -> LoadSpec:
    """What the load process of one round of ``scenario`` runs, against ``targets``."""
    locustfile = config.resolve(scenario.locustfile)
    env = {f"PERFGATE_STORM_{key.upper()}": str(value) for key, value in scenario.storm.items()}
    generator_cpus = cpu_placement(config.rounds.placement)[1]
    return LoadSpec(
        str(locustfile),
        scenario.user_classes,
        scenario.users,
        scenario.spawn_rate,
        scenario.warmup,
        scenario.duration,
        targets,
        env,
        tuple(sorted(generator_cpus or ())),
        scenario.tags,
        scenario.exclude_tags,
        scenario.shape,
        str(config.resolve(scenario.credentials)) if scenario.credentials else "",
        _load_limits(config, targets, budget),
    )


def _load_limits(config: Config, targets: tuple[LoadTarget, ...], budget: LiveBudget | None) -> LoadLimits | None:
    """A live round's limits in the load process: the rate, what is left of the cap, the abort threshold."""
    if budget is None:
        return None
    left = min((budget.left(str(t.side)) for t in targets), default=0)
    return LoadLimits(config.live.rate or 0.0, max(left, 1), config.live.abort_error_rate)
