"""Absolute limits beside the relative margins: ``[judge.limits] "login.p95" = "250ms"``.

A limit is judged on the candidate alone, round by round (the round is the unit, as for
margins): the mean of the candidate's per-round values with a t interval over its rounds.
It fails only when the whole interval is beyond the limit, passes when the whole interval is
within it, and is inconclusive otherwise. A spec without a name (``"p95"``) holds for every
request name. Limits are stored as the metric's own units (µs for latencies, a fraction for
``error_rate``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import stdtrit  # Student's t quantile; scipy.stats costs ~1 s to import

from perfgate.config import split_metric_spec
from perfgate.formatting import LIMIT_SUFFIX
from perfgate.judge.rules import MIN_PAIRS
from perfgate.model import Basis, MetricComparison, Reason, RoundMetrics, Side, State


def limit_checks(
    metrics: Sequence[RoundMetrics], limits: Mapping[str, float], confidence: float = 0.95
) -> list[MetricComparison]:
    """One row per (scenario, name, limit) that the candidate's rounds measured."""
    rounds: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for spec in limits:
        parsed = split_metric_spec(spec)
        if parsed is None:
            continue
        only, metric = parsed
        for m in metrics:
            value = m.values.get(metric)
            wanted = m.side is Side.CANDIDATE and (only is None or m.name == only)
            if wanted and value is not None and math.isfinite(value):
                rounds[(m.scenario, m.name, spec)].append(float(value))
    out = []
    for (scenario, name, spec), values in sorted(rounds.items()):
        metric = split_metric_spec(spec)[1]  # type: ignore[index]  # parsed above
        out.append(_check(scenario, name, metric, np.array(values), limits[spec], confidence))
    return out


def _check(
    scenario: str, name: str, metric: str, values: np.ndarray, limit: float, confidence: float
) -> MetricComparison:
    mean = float(values.mean())
    if values.size >= MIN_PAIRS:
        half = float(stdtrit(values.size - 1, 0.5 + confidence / 2) * values.std(ddof=1) / math.sqrt(values.size))
    else:
        half = math.inf
    low, high = mean - half, mean + half
    state = State.REGRESSION if low > limit else State.PASS if high <= limit else State.INCONCLUSIVE
    ratio = mean / limit if limit else math.nan
    return MetricComparison(
        scenario=scenario,
        name=name,
        metric=metric + LIMIT_SUFFIX,
        baseline=limit,  # the limit stands where a baseline would
        candidate=mean,
        ratio=ratio,
        ci_low=low / limit if limit else math.nan,
        ci_high=high / limit if limit else math.nan,
        p_value=math.nan,
        verdict=state,
        why=Reason(Basis.LIMIT, pairs=int(values.size), need=MIN_PAIRS if values.size < MIN_PAIRS else 0),
        margin=0.0,
        rounds=int(values.size),
    )
