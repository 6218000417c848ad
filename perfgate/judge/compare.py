"""Judge round-level metrics: paired ratios, confidence bounds, Holm, three states.

The evidence for a metric is the set of per-pair candidate/baseline log-ratios
(one per baseline/candidate pair of rounds), never pooled samples. The effect is
their mean, i.e. the geometric mean of the paired ratios, and its bounds come
from Student's t on the log-ratios. With 3-12 pairs this is the method that
fits: bootstrap intervals undercover badly with so few resamplable units, and
sign-flip/signed-rank tests cannot reach the family-corrected levels at all
below ~9 pairs (their smallest p-value is 2**-n). Log-ratios of round metrics
are close to normal (the harness checks the coverage), and a hiccup round only
widens the interval (the t statistic of one outlier is ~1), so it costs rounds,
not false alarms.

Each metric is two one-sided questions against its margin m:

* **regression**: is the change beyond +m? Any one of these fails the gate, so
  the family is a union: Holm's step-down over every scenario x name x metric
  (and over the looks, see :mod:`perfgate.judge.sequential`). The lower bound
  shown is at the level of the metric's Holm step, so "regression" is exactly
  "the whole CI is above the margin".
* **pass**: is the change within +m? The gate passes only if *every* metric
  does: an intersection-union test (Berger 1982), which holds its level with
  each metric at the plain level, so the upper bound needs no correction.

REGRESSION if the lower bound is above 1+m, IMPROVEMENT if the upper bound is
below 1-m, PASS if the upper bound is below 1+m, else INCONCLUSIVE. Throughput
is mirrored (higher is better). Fewer than :data:`MIN_PAIRS` pairs is always
INCONCLUSIVE.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import stdtr, stdtrit

from perfgate.config import JudgeConfig
from perfgate.judge.rounds import QUANTILES
from perfgate.judge.rules import ERROR_RATE_FLOOR, HIGHER_IS_BETTER, MIN_PAIRS
from perfgate.judge.sequential import LOOKS, look_index, look_levels, look_schedule
from perfgate.judge.verdicts import verdict_of, with_cpu_context
from perfgate.model import MetricComparison, Note, NoteKind, Reason, Revision, RoundMetrics, Side, State, Verdict


@dataclass(frozen=True)
class Evidence:
    """One metric's paired evidence, oriented so that positive is worse."""

    scenario: str
    name: str
    metric: str
    worse: np.ndarray  # per pair: +-log(candidate/baseline), or the error-rate difference
    estimate: float
    se: float
    rounds: int
    baseline: float
    candidate: float
    ratio: float
    margin: float  # as configured (for error_rate: the tolerance in rate units)
    regression_at: float  # worse-space threshold of a regression
    improvement_at: float  # worse-space threshold of an improvement
    p_regression: float  # one-sided, H0: change within the margin
    testable: bool  # False when no data could ever show a regression (no errors at all)
    look: int = 1
    fisher_p: float = float("nan")
    error_free: int = 0  # error_rate only: requests of a candidate that failed none (exact upper bound)

    @property
    def pairs(self) -> int:
        return int(self.worse.size)

    def bound(self, level: float, upper: bool) -> float:
        """One-sided bound at ``level`` in worse-space: Student's t on the pairs, or, for the
        error rate of a candidate without a single error, the exact binomial bound."""
        if upper and self.error_free and self.pairs >= 2:
            return zero_error_bound(self.error_free, level)
        if self.pairs < 2 or not math.isfinite(self.se):
            return math.inf if upper else -math.inf
        if self.se == 0.0:
            return self.estimate
        t = float(stdtrit(self.pairs - 1, 1.0 - level))
        return self.estimate + t * self.se if upper else self.estimate - t * self.se


def judge(
    metrics: Sequence[RoundMetrics],
    config: JudgeConfig,
    baseline: Revision,
    candidate: Revision,
    *,
    run_id: str = "",
    invalid_rounds: int = 0,
    confirmation_rounds: int = 0,
    planned_pairs: int | None = None,
    budget_pairs: int | None = None,
    looks: int = LOOKS,
    error_floor: float = ERROR_RATE_FLOOR,
) -> Verdict:
    """The verdict over every scenario x name x metric in ``config.metrics``.

    ``planned_pairs``/``budget_pairs`` (``rounds.count``/``rounds.max``) switch on
    the sequential design: each scenario is judged at the look its pair count
    belongs to, with that look's share of the error rates. Leave them out for a
    single fixed look (e.g. re-judging a stored run with all its pairs).
    """
    alpha = 1.0 - config.confidence
    schedule = look_schedule(planned_pairs, budget_pairs or planned_pairs, looks=looks) if planned_pairs else ()
    series, pairs_per_scenario, notes = collect(metrics, config)
    evidence = []
    for (scenario, name, metric), rows in series.items():
        look = look_index(pairs_per_scenario[scenario], schedule) if schedule else 1
        ev = (
            error_evidence(scenario, name, rows, config, error_floor)
            if metric == "error_rate"
            else ratio_evidence(scenario, name, metric, rows, config)
        )
        evidence.append(replace(ev, look=look))
    results = with_cpu_context(decide(evidence, alpha, schedule))
    rounds = len({(m.scenario, m.round_index) for m in metrics})
    if schedule:
        looked = sorted({ev.look for ev in evidence})
        notes.append(Note(NoteKind.LOOKS, looks=tuple(schedule), judged_at=tuple(looked)))
    return verdict_of(
        results,
        baseline,
        candidate,
        run_id=run_id,
        rounds=rounds,
        invalid_rounds=invalid_rounds,
        confirmation_rounds=confirmation_rounds,
        notes=tuple(notes),
    )


# --- pairing -----------------------------------------------------------------

Pair = tuple[RoundMetrics, RoundMetrics]  # (baseline, candidate)


#: Requests beyond a quantile that a round needs before its quantile means anything:
#: a round's p99 of 150 requests is its second-largest value, noise rather than evidence.
TAIL_SAMPLES = 10


def tail_samples_needed(metric: str) -> float:
    """Requests per round needed to judge ``metric`` (0 for non-quantiles)."""
    quantile = QUANTILES.get(metric)
    return TAIL_SAMPLES / (1.0 - quantile) if quantile is not None else 0.0


def collect(
    metrics: Sequence[RoundMetrics], config: JudgeConfig
) -> tuple[dict[tuple[str, str, str], list[Pair]], dict[str, int], list[Note]]:
    """Group round metrics into baseline/candidate pairs per scenario x name x metric."""
    pairs, scenario_pairs = _pair_up(metrics, config.min_count)
    counts: dict[tuple[str, str], list[int]] = defaultdict(list)
    carried: dict[tuple[str, str], set[str]] = defaultdict(set)  # request names vs the target's resources
    for m in metrics:
        counts[(m.scenario, m.name)].append(m.count)
        carried[(m.scenario, m.name)].update(m.values)
    notes = []
    series: dict[tuple[str, str, str], list[Pair]] = {}
    for (scenario, name), per_round in sorted(counts.items()):
        requests = float(np.median(per_round))
        if requests < config.min_count:
            notes.append(Note(NoteKind.FEW_REQUESTS, scenario, name, requests=requests, min_count=config.min_count))
            continue
        thin = []
        for metric in config.metrics:
            if metric not in carried[(scenario, name)]:
                continue
            if requests < tail_samples_needed(metric):
                thin.append((metric, tail_samples_needed(metric)))
                continue
            series[(scenario, name, metric)] = pairs.get((scenario, name), [])
        if thin:
            notes.append(Note(NoteKind.THIN_TAIL, scenario, name, requests=requests, needs=tuple(thin)))
    return series, {s: len(p) for s, p in scenario_pairs.items()}, notes


def _pair_up(
    metrics: Sequence[RoundMetrics], min_count: int
) -> tuple[dict[tuple[str, str], list[Pair]], dict[str, set[int]]]:
    """(baseline, candidate) pairs per scenario x name with ``min_count`` requests a side, and
    every complete pair id per scenario. A re-run of a round replaces the earlier one."""
    by_pair: dict[tuple[str, str, int], dict[Side, RoundMetrics]] = defaultdict(dict)
    for m in metrics:
        slot = by_pair[(m.scenario, m.name, m.pair)]
        if m.side not in slot or slot[m.side].round_index < m.round_index:
            slot[m.side] = m
    pairs: dict[tuple[str, str], list[Pair]] = defaultdict(list)
    scenario_pairs: dict[str, set[int]] = defaultdict(set)
    for (scenario, name, pair), sides in sorted(by_pair.items()):
        if Side.BASELINE in sides and Side.CANDIDATE in sides:
            scenario_pairs[scenario].add(pair)
            b, c = sides[Side.BASELINE], sides[Side.CANDIDATE]
            if b.count >= min_count and c.count >= min_count:
                pairs[(scenario, name)].append((b, c))
    return pairs, scenario_pairs


# --- evidence per metric -----------------------------------------------------


def _mean_se(worse: np.ndarray) -> tuple[float, float]:
    if worse.size == 0:
        return 0.0, math.inf
    if worse.size == 1:
        return float(worse[0]), math.inf
    return float(worse.mean()), float(worse.std(ddof=1) / math.sqrt(worse.size))


def _p_above(estimate: float, se: float, threshold: float, pairs: int) -> float:
    """One-sided t p-value of H0: true value <= threshold."""
    if pairs < 2 or not math.isfinite(se):
        return 1.0
    if se == 0.0:
        return 0.0 if estimate > threshold else 1.0
    return float(stdtr(pairs - 1, -(estimate - threshold) / se))


def _rounds(rows: list[Pair]) -> int:
    return len({m.round_index for pair in rows for m in pair})


def ratio_evidence(scenario: str, name: str, metric: str, rows: list[Pair], config: JudgeConfig) -> Evidence:
    """Log-ratio evidence for a latency metric or throughput."""
    margin = config.margin_for(name, metric)
    sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
    b = np.array([p[0].values.get(metric, math.nan) for p in rows], dtype=float)
    c = np.array([p[1].values.get(metric, math.nan) for p in rows], dtype=float)
    keep = np.isfinite(b) & np.isfinite(c) & (b >= 0) & (c >= 0)
    b, c, rows = b[keep], c[keep], [r for r, k in zip(rows, keep) if k]
    tiny = 1e-12
    worse = sign * np.log(np.maximum(c, tiny) / np.maximum(b, tiny))
    estimate, se = _mean_se(worse)
    if sign > 0:
        regression_at, improvement_at = math.log1p(margin), (math.log1p(-margin) if margin < 1 else -math.inf)
    else:
        regression_at, improvement_at = (-math.log1p(-margin) if margin < 1 else math.inf), -math.log1p(margin)
    return Evidence(
        scenario=scenario,
        name=name,
        metric=metric,
        worse=worse,
        estimate=estimate,
        se=se,
        rounds=_rounds(rows),
        baseline=_geomean(b),
        candidate=_geomean(c),
        ratio=math.exp(sign * estimate),
        margin=margin,
        regression_at=regression_at,
        improvement_at=improvement_at,
        p_regression=_p_above(estimate, se, regression_at, worse.size),
        testable=worse.size >= 2,
    )


def _geomean(x: np.ndarray) -> float:
    x = x[x > 0]
    return float(np.exp(np.log(x).mean())) if x.size else math.nan


def zero_error_bound(requests: int, level: float) -> float:
    """Exact (Clopper-Pearson) upper bound on an error rate after ``requests`` without an error.

    It solves (1 - p)^n = level, the "rule of three" (3/n) at 95%. It bounds the candidate's
    rate, so it bounds the increase over any baseline too: 0 errors in 2,000 requests is
    within a 0.5 pp tolerance at 95%, while 0 in 300 is not yet.
    """
    return 1.0 - level ** (1.0 / requests) if requests > 0 else math.inf


def error_evidence(scenario: str, name: str, rows: list[Pair], config: JudgeConfig, floor: float) -> Evidence:
    """Error-rate evidence: the difference in error fraction, candidate - baseline.

    Two tests must agree for a regression. Fisher's exact test on the error
    counts summed per side asks whether the candidate fails more often at all;
    it treats requests as independent, so alone it would flag a single bad
    round. The decision therefore also needs the round-level test: a t test on
    the difference, with a standard error that is the larger of the spread of
    the per-pair differences (between-round variation) and the binomial one
    (Agresti-Caffo), i.e. a quasi-binomial model with dispersion >= 1. The
    tolerance is ``max(margin * baseline rate, floor)``: a relative margin on a
    rate of 0.2% would be a few requests, below what any gate can resolve. A candidate
    without a single error is bounded exactly (:func:`zero_error_bound`), so zero against
    zero over enough requests passes instead of resting on a normal approximation.
    The comparison's ci_low/ci_high and margin are in rate units (not ratios).
    """
    margin = config.margin_for(name, "error_rate")
    e_b = np.array([p[0].errors for p in rows], dtype=float)
    n_b = np.array([p[0].count for p in rows], dtype=float)
    e_c = np.array([p[1].errors for p in rows], dtype=float)
    n_c = np.array([p[1].count for p in rows], dtype=float)
    pooled_b = e_b.sum() / n_b.sum() if n_b.sum() else 0.0
    pooled_c = e_c.sum() / n_c.sum() if n_c.sum() else 0.0
    worse = e_c / np.maximum(n_c, 1) - e_b / np.maximum(n_b, 1)
    estimate = pooled_c - pooled_b
    _, se_pairs = _mean_se(worse)
    ac_b, ac_c = (e_b.sum() + 1) / (n_b.sum() + 2), (e_c.sum() + 1) / (n_c.sum() + 2)
    se_binomial = math.sqrt(ac_b * (1 - ac_b) / (n_b.sum() + 2) + ac_c * (1 - ac_c) / (n_c.sum() + 2))
    se = max(se_pairs, se_binomial) if worse.size >= 2 else math.inf
    tolerance = max(margin * pooled_b, floor)
    fisher = 1.0
    if e_c.sum() > 0:
        from scipy.stats import fisher_exact  # scipy.stats costs ~1 s to import; most gates never get here

        table = [[int(e_c.sum()), int(n_c.sum() - e_c.sum())], [int(e_b.sum()), int(n_b.sum() - e_b.sum())]]
        fisher = float(fisher_exact(np.array(table), alternative="greater").pvalue)
    p_t = _p_above(estimate, se, tolerance, worse.size)
    ratio = pooled_c / pooled_b if pooled_b > 0 else (1.0 if pooled_c == 0 else math.inf)
    return Evidence(
        scenario=scenario,
        name=name,
        metric="error_rate",
        worse=worse,
        estimate=estimate,
        se=se,
        rounds=_rounds(rows),
        baseline=pooled_b,
        candidate=pooled_c,
        ratio=ratio,
        margin=tolerance,
        regression_at=tolerance,
        improvement_at=-tolerance,
        p_regression=max(p_t, fisher),
        testable=worse.size >= 2 and e_c.sum() > 0,
        fisher_p=fisher,
        error_free=int(n_c.sum()) if e_c.sum() == 0 else 0,
    )


# --- the family decision -----------------------------------------------------


def holm_levels(p_values: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down: (adjusted p-values, the level each hypothesis is tested at).

    A hypothesis rejected at step j is tested at alpha/(K-j+1); the rest at the
    level of the step where the procedure stopped, so that "p < level" and
    "adjusted p < alpha" always agree.
    """
    k = p_values.size
    order = np.argsort(p_values, kind="stable")
    steps = np.arange(k, 0, -1)  # K, K-1, ..., 1
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(p_values[order] * steps))
    adjusted = np.empty(k)
    adjusted[order] = adjusted_sorted
    rejected = adjusted_sorted < alpha
    stop = int(np.argmin(rejected)) if not rejected.all() else k - 1
    levels_sorted = np.where(rejected, alpha / steps, alpha / steps[stop])
    levels = np.empty(k)
    levels[order] = levels_sorted
    return adjusted, levels


def decide(evidence: Sequence[Evidence], alpha: float, schedule: tuple[int, ...] = ()) -> list[MetricComparison]:
    """Three-state verdicts for a whole family: Holm on regressions, plain level on passes."""
    spent = [look_levels(schedule, ev.look, alpha) if schedule else (alpha, alpha) for ev in evidence]
    family = [i for i, ev in enumerate(evidence) if ev.testable and ev.pairs >= MIN_PAIRS]
    # Holm over metrics and looks: a p-value at a look that spends a fraction f of alpha counts as p/f.
    scaled = np.array([min(1.0, evidence[i].p_regression * alpha / spent[i][0]) for i in family])
    adjusted, levels = holm_levels(scaled, alpha) if family else (np.array([]), np.array([]))
    p_value = [math.nan] * len(evidence)  # no test applies outside the family: shown as "—"
    level = [spent[i][0] / max(len(family), 1) for i in range(len(evidence))]
    for j, i in enumerate(family):
        p_value[i], level[i] = float(adjusted[j]), float(levels[j] * spent[i][0] / alpha)
    out = []
    for i, ev in enumerate(evidence):
        lower, upper = ev.bound(level[i], upper=False), ev.bound(spent[i][1], upper=True)
        if ev.pairs < MIN_PAIRS:
            state = State.INCONCLUSIVE
        elif i in family and p_value[i] < alpha and lower > ev.regression_at:
            state = State.REGRESSION
        elif upper < ev.improvement_at:
            state = State.IMPROVEMENT
        elif upper < ev.regression_at:
            state = State.PASS
        else:
            state = State.INCONCLUSIVE
        out.append(_comparison(ev, state, lower, upper, p_value[i]))
    return out


def _comparison(ev: Evidence, state: State, lower: float, upper: float, p_value: float) -> MetricComparison:
    if ev.metric == "error_rate":
        ci_low, ci_high = lower, upper
    elif ev.metric in HIGHER_IS_BETTER:
        ci_low, ci_high = _exp(-upper), _exp(-lower)
    else:
        ci_low, ci_high = _exp(lower), _exp(upper)
    return MetricComparison(
        scenario=ev.scenario,
        name=ev.name,
        metric=ev.metric,
        baseline=ev.baseline,
        candidate=ev.candidate,
        ratio=ev.ratio if ev.pairs else math.nan,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        verdict=state,
        why=Reason(pairs=ev.pairs, need=MIN_PAIRS if ev.pairs < MIN_PAIRS else 0, fisher_p=ev.fisher_p),
        margin=ev.margin,
        rounds=ev.rounds,
        higher_is_better=ev.metric in HIGHER_IS_BETTER,
    )


def _exp(x: float) -> float:
    return math.exp(x) if x < 700 else math.inf
