"""Levers that make the verdict decisive: exact zero-error bounds and Harrell-Davis quantiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from perfgate.config import JudgeConfig
from perfgate.formatting import verdict_text
from perfgate.judge import judge
from perfgate.judge.compare import zero_error_bound
from perfgate.judge.rounds import harrell_davis, latency_values
from perfgate.model import State
from tests.judge.helpers_judge import REV, pairs

ERRORS_ONLY = JudgeConfig(metrics=("error_rate",))


@pytest.mark.parametrize("n", [30, 300, 3000])
def test_zero_error_bound_is_the_exact_clopper_pearson_bound(n):
    bound = zero_error_bound(n, 0.05)
    # scipy's exact two-sided 90% interval has the one-sided 95% bound as its upper end
    reference = binomtest(0, n).proportion_ci(confidence_level=0.90, method="exact").high
    assert math.isclose(bound, reference, rel_tol=1e-9)


def test_zero_errors_against_zero_over_enough_requests_pass():
    verdict = judge(pairs([1.0] * 6, count=1000), ERRORS_ONLY, REV, REV)
    assert verdict.state is State.PASS, verdict_text(verdict)


def test_zero_errors_over_too_few_requests_stay_inconclusive():
    verdict = judge(pairs([1.0] * 6, count=40), ERRORS_ONLY, REV, REV)  # 0 in 240: bound 1.2% > 0.5 pp
    assert verdict.state is State.INCONCLUSIVE, verdict_text(verdict)


def test_a_candidate_with_errors_is_still_judged_by_the_round_level_test():
    verdict = judge(pairs([1.0] * 6, count=1000, errors=(0, 80)), ERRORS_ONLY, REV, REV)
    assert verdict.state is State.REGRESSION, verdict_text(verdict)


def test_harrell_davis_tracks_the_quantile_with_less_spread_than_interpolation():
    rng = np.random.default_rng(7)
    rounds = rng.lognormal(0.0, 0.6, size=(1500, 300))  # 1,500 rounds of 300 requests
    true_p95 = math.exp(0.6 * 1.6448536)
    hd = np.array([harrell_davis(r, [0.95])[0] for r in rounds])
    linear = np.quantile(rounds, 0.95, axis=1)
    assert abs(np.median(hd) / true_p95 - 1) < 0.02
    assert np.std(np.log(hd)) < 0.99 * np.std(np.log(linear))  # about 5% less on a smooth lognormal


def test_latency_values_by_estimator():
    x = np.arange(1.0, 101.0)
    assert latency_values(x, "linear")["p50"] == pytest.approx(50.5)
    assert latency_values(x, "hd")["p50"] == pytest.approx(50.5, rel=1e-6)
    assert latency_values(x, "hd")["p99"] < x.max()
