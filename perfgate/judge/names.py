"""Metric specs that name a request (``login.p95``) must name one the scenario really makes.

A margin for ``login.p50`` when the requests are named ``/login`` would otherwise be
silently ignored, and a bisect on it would judge nothing. The names are known once the
first round has run; the gate, bisect and history check them with :func:`check_metric_names`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from perfgate.config import Config, JudgeConfig, split_metric_spec
from perfgate.errors import ConfigError
from perfgate.model import RoundMetrics

#: At most this many names are listed in the error.
SHOWN = 20


def check_metric_names(specs: Iterable[str], names_seen: Iterable[str], *, where: str = "") -> None:
    """Raise :class:`ConfigError` for the first ``NAME.METRIC`` spec whose NAME is not in ``names_seen``.

    Plain metrics (``p95``) name no request and always pass; ``where`` says where the spec came from.
    """
    seen = sorted(set(names_seen))
    for spec in specs:
        parsed = split_metric_spec(spec)
        if parsed is None or parsed[0] is None or parsed[0] in seen:
            continue
        shown = ", ".join(repr(n) for n in seen[:SHOWN]) + (", ..." if len(seen) > SHOWN else "")
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}{spec!r} names no request of the scenario (names seen: {shown or 'none'})")


def judged_specs(judge: JudgeConfig) -> tuple[str, ...]:
    """The [judge.margins] and [judge.limits] keys and [judge] metrics: the specs of a gate that
    may name a request."""
    return (*judge.margins, *judge.limits, *judge.metrics)


def check_gate_names(config: Config, metrics: Sequence[RoundMetrics]) -> None:
    """Once every scenario has had a valid round (so every request name has shown up), check the
    config's specs against the names. Margins are not per scenario: a name of any scenario counts."""
    scenarios = {m.scenario for m in metrics}
    if all(s.name in scenarios for s in config.scenarios):
        check_metric_names(judged_specs(config.judge), {m.name for m in metrics}, where=f"{config.path}: [judge]")
