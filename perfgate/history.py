"""Per-commit history from the store: pooled comparisons, per-commit series, change points.

Everything here reads stored rounds only. A stored round counts for a commit
when its key matches: the commit, the scenario, the config's measurement hash
and the machine fingerprint (results from another machine or another load
profile are never mixed in). Rounds of a dirty working tree never count for
the commit it was based on.

* :meth:`Measurements.pooled_verdict` (in :mod:`perfgate.store.query`) re-judges
  every stored baseline/candidate pair of one comparison (same two commits, same
  key, same design, complete runs only), pooled across the runs that measured
  it, hard checks included. Hooks, bisect and backfill (:mod:`perfgate.backfill`) use it
  to reuse earlier measurements instead of measuring again.
* :func:`build_history` gives one series per scenario x request name x metric:
  per commit, its round-level values, a centre and a confidence band, and the
  change points found by kernel change-point detection over the round-level
  values in commit order (:func:`perfgate.judge.change_points`), snapped to commit
  boundaries so that each names the commit where a level shift began.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from scipy.special import stdtrit

from perfgate.config import Config
from perfgate.judge import change_points
from perfgate.judge.changepoint import PENALTY
from perfgate.model import ChangePoint, Point, Revision, Series
from perfgate.store.query import Key, Measurements

#: Fewer round-level values than this in a series: no change-point search.
MIN_CHANGE_POINT_VALUES = 6


# --- series and change points ---------------------------------------------------------


def centre_and_band(values: Sequence[float], metric: str, confidence: float) -> tuple[float, float, float]:
    """Centre and two-sided confidence band over rounds: geometric for positive metrics
    (latency, throughput), arithmetic for the error rate (which can be zero)."""
    x = np.asarray(values, dtype=float)
    log = metric != "error_rate" and bool((x > 0).all())
    y = np.log(x) if log else x
    mean = float(y.mean())
    if y.size < 2:
        low = high = mean
    else:
        half = float(stdtrit(y.size - 1, 0.5 + confidence / 2)) * float(y.std(ddof=1)) / math.sqrt(y.size)
        low, high = mean - half, mean + half
    if log:
        return math.exp(mean), math.exp(low), math.exp(high)
    return mean, low, high


def snap_to_commits(index: int, owners: Sequence[int]) -> int:
    """Move a change point at value ``index`` to the nearest boundary between commits."""
    if index <= 0 or index >= len(owners) or owners[index - 1] != owners[index]:
        return index
    owner = owners[index]
    start = owners.index(owner)
    end = len(owners) - owners[::-1].index(owner)
    return start if index - start <= end - index else end


def find_changes(points: Sequence[Point], metric: str, *, penalty: float = PENALTY) -> list[ChangePoint]:
    """Change points over the round-level values in commit order, snapped to commits."""
    values: list[float] = []
    owners: list[int] = []
    for k, point in enumerate(points):
        values.extend(point.values)
        owners.extend([k] * len(point.values))
    x = np.asarray(values, dtype=float)
    if x.size < MIN_CHANGE_POINT_VALUES or len(points) < 2 or not np.isfinite(x).all():
        return []
    transformed = np.log(x) if metric != "error_rate" and (x > 0).all() else x
    cuts = sorted({snap_to_commits(i, owners) for i in change_points(transformed, penalty=penalty)})
    cuts = [c for c in cuts if 0 < c < x.size]
    bounds = [0, *cuts, x.size]
    changes = []
    for j, cut in enumerate(cuts):
        before, after = x[bounds[j] : cut], x[cut : bounds[j + 2]]
        point = points[owners[cut]]
        changes.append(ChangePoint(point.revision, point.position, float(np.median(before)), float(np.median(after))))
    return changes


def build_history(
    measurements: Measurements,
    commits: Sequence[Revision],
    config: Config,
    *,
    key: Key | None = None,
    metrics: Sequence[str] | None = None,
    names: Sequence[str] = (),
    penalty: float = PENALTY,
) -> list[Series]:
    """One series per scenario x request name x metric over ``commits`` (oldest first)."""
    key = key or Key.of(config)
    metrics = tuple(metrics or config.judge.metrics)
    per_key: dict[tuple[str, str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for position, commit in enumerate(commits):
        for scenario_config in config.scenarios:
            for _, _, m in measurements.commit_values(commit.sha, scenario_config.name, key):
                if names and m.name not in names:
                    continue
                if m.count < config.judge.min_count:
                    continue
                for metric in metrics:
                    value = m.values.get(metric, math.nan)
                    if math.isfinite(value):
                        per_key[(m.scenario, m.name, metric)][position].append(value)
    series = []
    for (scenario, name, metric), by_position in sorted(per_key.items()):
        points = []
        for position in sorted(by_position):
            commit = commits[position]
            values = tuple(by_position[position])
            centre, low, high = centre_and_band(values, metric, config.judge.confidence)
            previous = commits[position - 1].sha if position else None
            run_id, step, step_baseline = measurements.candidate_run(commit.sha, key, previous) or (None, "", "")
            points.append(Point(commit, position, values, centre, low, high, run_id, step, step_baseline))
        series.append(
            Series(scenario, name, metric, tuple(points), tuple(find_changes(points, metric, penalty=penalty)))
        )
    return series
