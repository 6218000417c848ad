"""Flapping metrics: how often their stored verdicts flip, how noisy their rounds are,
whether their failures cluster, and how many rounds would make them gateable.

Per scenario x request name x metric, over the stored runs of one config and machine:

* **flip rate**: the share of consecutive stored verdicts (in time order) whose
  state differs (improvement counts as pass); **repeat flips** does the same only
  between runs of the *same* comparison (same two commits), where the code did
  not change and any flip is noise.
* **noise**: the round-to-round coefficient of variation of each side (within a
  run, where the code is fixed), and the spread ``sigma`` of the per-pair
  log-ratios (error rate: differences) that the judge works on, centred per
  run so that a real change does not count as noise. A/A runs (both sides the
  same commit) are used when there are any, else every run.
* **rounds needed**: the fewest pairs with which an unchanged metric passes 95%
  of gates: ``(t(n-1, confidence) + t(n-1, 0.95)) * sigma / sqrt(n)`` within the
  margin (the CI's half-width plus the point estimate's own spread, as in a
  sample-size formula). A metric needing more than the budget (``rounds.max``)
  is too noisy to gate there; **margin needed** is the margin that would make
  it gateable within the budget.
* **clustering**: a Wald-Wolfowitz runs test on the time series of non-pass
  verdicts (fewer runs than chance: failures come in episodes, e.g. a noisy
  machine period, not as independent coin flips), and groups of metrics whose
  non-pass verdicts fall on the same runs (Jaccard >= 0.5): they flap together.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from perfgate.config import Config
from perfgate.errors import StoreError
from perfgate.judge import ERROR_RATE_FLOOR
from perfgate.model import RoundMetrics, Side
from perfgate.store.query import Key, Measurements

MetricKey = tuple[str, str, str]  # scenario, name, metric
MAX_PAIRS_SEARCHED = 10_000


@dataclass(frozen=True)
class FlakyMetric:
    key: MetricKey
    verdicts: int
    flip_rate: float  # NaN with fewer than 2 verdicts
    repeat_flip_rate: float  # NaN without repeated comparisons
    inconclusive_rate: float
    cv: float  # round-to-round coefficient of variation of one side
    sigma: float  # spread of per-pair log-ratios (error rate: differences)
    pairs: int  # pairs the noise was measured on
    noise_source: str  # "A/A" or "all runs"
    rounds_needed: int | None  # None: no noise estimate, or more than MAX_PAIRS_SEARCHED
    margin_needed: float | None  # margin at which an unchanged metric passes 95% of gates within the budget
    gateable: bool | None
    runs_z: float  # runs-test z of non-pass verdicts; negative: clustered
    group: int | None  # metrics that flap together share a group number

    @property
    def clustered(self) -> bool:
        return math.isfinite(self.runs_z) and self.runs_z < -norm.ppf(0.975)


@dataclass(frozen=True)
class FlakyReport:
    metrics: tuple[FlakyMetric, ...]
    runs: int
    aa_runs: int
    budget: int
    margin_note: str


def _state(value: str) -> str:
    return "pass" if value == "improvement" else value


def flip_rate(states: Sequence[str]) -> float:
    if len(states) < 2:
        return math.nan
    return sum(a != b for a, b in zip(states, states[1:], strict=False)) / (len(states) - 1)


def runs_test_z(flags: Sequence[bool]) -> float:
    """Wald-Wolfowitz z of a binary sequence; NaN when undefined (too short, or constant)."""
    n1 = sum(flags)
    n2 = len(flags) - n1
    if len(flags) < 8 or n1 == 0 or n2 == 0:
        return math.nan
    runs = 1 + sum(a != b for a, b in zip(flags, flags[1:], strict=False))
    n = n1 + n2
    mean = 2 * n1 * n2 / n + 1
    var = 2 * n1 * n2 * (2 * n1 * n2 - n) / (n * n * (n - 1))
    return (runs - mean) / math.sqrt(var) if var > 0 else math.nan


#: Share of gates an unchanged metric should pass for it to count as gateable.
PASS_RATE = 0.95


def _reach(pairs: int, confidence: float, pass_rate: float) -> float:
    """Log-ratio threshold per unit sigma that ``pairs`` pairs pass ``pass_rate`` of the time at zero change."""
    return (float(student_t.ppf(confidence, pairs - 1)) + float(student_t.ppf(pass_rate, pairs - 1))) / math.sqrt(pairs)


def rounds_needed(sigma: float, threshold: float, confidence: float, pass_rate: float = PASS_RATE) -> int | None:
    """Fewest pairs n with which an unchanged metric passes ``pass_rate`` of gates (see the module docstring)."""
    if not (math.isfinite(sigma) and threshold > 0):
        return None
    if sigma == 0:
        return 2
    for n in range(2, MAX_PAIRS_SEARCHED + 1):
        if _reach(n, confidence, pass_rate) * sigma < threshold:
            return n
    return None


def margin_needed(
    metric: str, sigma: float, pairs: int, confidence: float, pass_rate: float = PASS_RATE
) -> float | None:
    """The inverse of :func:`rounds_needed`: the margin that ``pairs`` pairs just reach.

    None for error rates (their threshold is a floor in absolute rate) and without a noise estimate.
    """
    if metric == "error_rate" or not math.isfinite(sigma) or pairs < 2:
        return None
    threshold = _reach(pairs, confidence, pass_rate) * sigma
    return -math.expm1(-threshold) if metric == "throughput" else math.expm1(threshold)


def flap_groups(failures: dict[MetricKey, set[str]], min_failures: int = 2) -> dict[MetricKey, int]:
    """Single-linkage groups of metrics whose non-pass runs overlap (Jaccard >= 0.5)."""
    keys = sorted(k for k, runs in failures.items() if len(runs) >= min_failures)
    parent = {k: k for k in keys}

    def find(k: MetricKey) -> MetricKey:
        while parent[k] != k:
            k = parent[k]
        return k

    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            union = failures[a] | failures[b]
            if union and len(failures[a] & failures[b]) / len(union) >= 0.5:
                parent[find(b)] = find(a)
    roots: dict[MetricKey, list[MetricKey]] = defaultdict(list)
    for k in keys:
        roots[find(k)].append(k)
    groups = {}
    for number, members in enumerate(sorted(m for m in roots.values() if len(m) > 1), start=1):
        for k in members:
            groups[k] = number
    return groups


def _pair_noise(metrics: list[RoundMetrics], metric: str) -> tuple[list[float], dict[Side, list[float]]]:
    """Per-pair candidate-vs-baseline log-ratios (error rate: differences), and per-side values."""
    by_pair: dict[int, dict[Side, float]] = defaultdict(dict)
    sides: dict[Side, list[float]] = defaultdict(list)
    for m in metrics:
        value = m.values.get(metric, math.nan)
        if math.isfinite(value):
            by_pair[m.pair][m.side] = value
            sides[m.side].append(value)
    diffs = []
    for pair in by_pair.values():
        if len(pair) == 2:
            b, c = pair[Side.BASELINE], pair[Side.CANDIDATE]
            if metric == "error_rate":
                diffs.append(c - b)
            elif b > 0 and c > 0:
                diffs.append(math.log(c / b))
    return diffs, sides


def analyse(
    measurements: Measurements,
    config: Config,
    *,
    key: Key | None = None,
    last: int | None = None,
    budget: int | None = None,
) -> FlakyReport:
    key = key or Key.of(config)
    budget = budget or config.rounds.max
    rows = [
        r
        for r in measurements.runs()
        if r.config_hash == key.config_hash
        and r.fingerprint == key.fingerprint
        and r.state in ("pass", "regression", "inconclusive")
    ]
    rows = rows[-last:] if last else rows
    scenarios = {s.name for s in config.scenarios}
    states: dict[MetricKey, list[tuple[str, str, str]]] = defaultdict(list)  # (run_id, comparison, state)
    noise: dict[MetricKey, dict[bool, list[list[float]]]] = defaultdict(lambda: {True: [], False: []})
    cvs: dict[MetricKey, dict[bool, list[float]]] = defaultdict(lambda: {True: [], False: []})
    baseline_rates: dict[MetricKey, list[float]] = defaultdict(list)
    aa_runs = 0
    for row in rows:
        run_id = row.run_id
        try:
            verdict = measurements.store.verdict(run_id) or {}
            manifest = measurements.manifest(run_id)
            records = measurements.store.rounds(run_id)
        except StoreError:
            continue
        aa = row.baseline == row.candidate and not manifest.candidate.dirty
        aa_runs += aa
        comparison = f"{row.baseline}..{row.candidate}"
        for m in verdict.get("metrics", ()):
            states[(m["scenario"], m["name"], m["metric"])].append((run_id, comparison, _state(m["verdict"])))
        per_name: dict[tuple[str, str], list[RoundMetrics]] = defaultdict(list)
        for record in records:
            if record.scenario in scenarios:
                for m in measurements.round_metrics(run_id, record.index):
                    if m.count >= config.judge.min_count:
                        per_name[(m.scenario, m.name)].append(m)
        _add_noise(per_name, config, aa, noise, cvs, baseline_rates)
    keys = sorted(set(states) | set(noise))
    failures = {k: {run for run, _, s in states[k] if s != "pass"} for k in keys}
    groups = flap_groups(failures)
    out = [
        _flaky_metric(k, states[k], noise[k], cvs[k], baseline_rates.get(k, []), groups.get(k), config, budget)
        for k in keys
    ]
    note = f"margin {config.judge.margin:.0%} (per-metric margins applied), confidence {config.judge.confidence:.0%}"
    return FlakyReport(tuple(out), len(rows), aa_runs, budget, note)


def _add_noise(
    per_name: dict[tuple[str, str], list[RoundMetrics]],
    config: Config,
    aa: bool,
    noise: dict[MetricKey, dict[bool, list[list[float]]]],
    cvs: dict[MetricKey, dict[bool, list[float]]],
    baseline_rates: dict[MetricKey, list[float]],
) -> None:
    """Add one run's per-pair noise, per-side CVs and baseline error rates (under A/A or not)."""
    for (scenario, name), metrics in per_name.items():
        for metric in config.judge.metrics:
            diffs, sides = _pair_noise(metrics, metric)
            k = (scenario, name, metric)
            if len(diffs) >= 2:
                noise[k][aa].append(diffs)
            for values in sides.values():
                x = np.asarray(values, dtype=float)
                if x.size >= 2 and x.mean() > 0:
                    cvs[k][aa].append(float(x.std(ddof=1) / x.mean()))
            if metric == "error_rate":
                baseline_rates[k].extend(sides.get(Side.BASELINE, []))


def _flaky_metric(
    k: MetricKey,
    states: list[tuple[str, str, str]],
    noise: dict[bool, list[list[float]]],
    cvs: dict[bool, list[float]],
    baseline_rates: list[float],
    group: int | None,
    config: Config,
    budget: int,
) -> FlakyMetric:
    """One metric's flap figures from its verdicts (run, comparison, state) and its noise."""
    seq = [s for _, _, s in states]
    by_comparison: dict[str, list[str]] = defaultdict(list)
    for _, comparison, s in states:
        by_comparison[comparison].append(s)
    repeats = [flip_rate(v) for v in by_comparison.values() if len(v) > 1]
    use_aa = bool(noise[True])
    groups_of_diffs = noise[use_aa]
    centred = [d - np.mean(g) for g in groups_of_diffs for d in g]
    dof = sum(len(g) - 1 for g in groups_of_diffs)
    sigma = math.sqrt(sum(c * c for c in centred) / dof) if dof > 0 else math.nan
    cv_list = cvs[True] or cvs[False]
    threshold = _threshold(config, k, baseline_rates)
    needed = rounds_needed(sigma, threshold, config.judge.confidence)
    return FlakyMetric(
        key=k,
        verdicts=len(seq),
        flip_rate=flip_rate(seq),
        repeat_flip_rate=float(np.mean(repeats)) if repeats else math.nan,
        inconclusive_rate=seq.count("inconclusive") / len(seq) if seq else math.nan,
        cv=float(np.mean(cv_list)) if cv_list else math.nan,
        sigma=sigma,
        pairs=sum(len(g) for g in groups_of_diffs),
        noise_source="A/A" if use_aa else "all runs",
        rounds_needed=needed,
        margin_needed=margin_needed(k[2], sigma, budget, config.judge.confidence),
        gateable=None if needed is None and not math.isfinite(sigma) else (needed is not None and needed <= budget),
        runs_z=runs_test_z([s != "pass" for s in seq]),
        group=group,
    )


def _threshold(config: Config, key: MetricKey, baseline_rates: list[float]) -> float:
    _, name, metric = key
    margin = config.judge.margin_for(name, metric)
    if metric == "error_rate":
        rate = float(np.mean(baseline_rates)) if baseline_rates else 0.0
        return max(margin * rate, ERROR_RATE_FLOOR)
    if metric == "throughput":
        return -math.log1p(-margin) if margin < 1 else math.inf
    return math.log1p(margin)
