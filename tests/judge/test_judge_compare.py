import math

import numpy as np
import pytest
from scipy import stats

from perfgate.config import JudgeConfig
from perfgate.formatting import note_text, reason_text, verdict_text
from perfgate.judge import MIN_PAIRS, holm_levels, judge
from perfgate.model import RoundMetrics, Side, State
from tests.judge.helpers_judge import REV, noisy_ratios, pairs

CONFIG = JudgeConfig(metrics=("p50", "p95", "p99", "throughput", "error_rate"))


def by_metric(verdict, name="login"):
    return {m.metric: m for m in verdict.metrics if m.name == name}


def test_identical_inputs_pass():
    verdict = judge(pairs([1.0] * 6, noise=np.linspace(-0.1, 0.1, 6)), CONFIG, REV, REV)
    assert verdict.state is State.PASS
    for m in verdict.metrics:
        assert m.verdict is State.PASS, reason_text(m)
        assert m.ratio == pytest.approx(1.0)
    assert verdict_text(verdict).startswith("pass: all 5 metrics")


def test_large_shift_is_a_regression():
    verdict = judge(pairs(noisy_ratios(6, 0.30, 0.02, seed=1)), CONFIG, REV, REV)
    assert verdict.state is State.REGRESSION
    m = by_metric(verdict)
    for metric in ("p50", "p95", "p99"):
        assert m[metric].verdict is State.REGRESSION
        assert m[metric].ci_low > 1.05
        assert reason_text(m[metric]).startswith(f"regression: {metric} login +")
    assert m["throughput"].verdict is State.REGRESSION  # 1/1.3: lower throughput is worse
    assert verdict.metrics[0].verdict is State.REGRESSION  # regressions sorted first


@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_few_pairs_is_inconclusive_never_pass(n):
    for shift in (0.0, 0.5):
        verdict = judge(pairs([1.0 + shift] * n), CONFIG, REV, REV)
        assert verdict.state is State.INCONCLUSIVE
        assert all(m.verdict is State.INCONCLUSIVE for m in verdict.metrics)
        if n:
            assert f"only {n} round pair" in reason_text(verdict.metrics[0])


def test_no_metrics_at_all_is_inconclusive():
    assert judge([], CONFIG, REV, REV).state is State.INCONCLUSIVE


def test_improvement_counts_as_pass():
    verdict = judge(pairs(noisy_ratios(8, -0.25, 0.02, seed=2)), CONFIG, REV, REV)
    m = by_metric(verdict)
    assert m["p95"].verdict is State.IMPROVEMENT
    assert m["throughput"].verdict is State.IMPROVEMENT  # 1/0.75 = +33% throughput
    assert reason_text(m["p95"]).startswith("improvement: p95 login \u2212")
    assert verdict.state is State.PASS


def test_throughput_direction():
    # Latency unchanged, throughput down 30%: a regression of throughput only.
    data = pairs([1.0] * 6, throughput_ratios=noisy_ratios(6, -0.30, 0.01, seed=3))
    m = by_metric(judge(data, CONFIG, REV, REV))
    assert m["throughput"].higher_is_better
    assert m["throughput"].verdict is State.REGRESSION
    assert m["throughput"].ci_high < 0.95
    assert "below the \u22125% margin" in reason_text(m["throughput"])
    assert m["p95"].verdict is State.PASS
    # Throughput up 30% is an improvement, not a regression.
    data = pairs([1.0] * 6, throughput_ratios=noisy_ratios(6, 0.30, 0.01, seed=3))
    assert by_metric(judge(data, CONFIG, REV, REV))["throughput"].verdict is State.IMPROVEMENT


def test_inconclusive_reason_names_the_straddled_margin():
    verdict = judge(pairs(noisy_ratios(6, 0.04, 0.05, seed=4)), CONFIG, REV, REV)
    m = by_metric(verdict)["p95"]
    assert m.verdict is State.INCONCLUSIVE
    assert m.ci_low < 1.05 < m.ci_high
    assert "straddles the +5% margin after 6 rounds" in reason_text(m)
    assert verdict_text(verdict).startswith("inconclusive: ")


def test_per_metric_and_per_name_margins_are_honoured():
    data = pairs(noisy_ratios(8, 0.12, 0.01, seed=5))
    assert by_metric(judge(data, CONFIG, REV, REV))["p99"].verdict is State.REGRESSION
    loose = JudgeConfig(metrics=CONFIG.metrics, margins={"p99": 0.20, "login.p95": 0.25})
    m = by_metric(judge(data, loose, REV, REV))
    assert m["p99"].verdict is State.PASS and m["p99"].margin == 0.20
    assert m["p95"].verdict is State.PASS and m["p95"].margin == 0.25
    assert m["p50"].verdict is State.REGRESSION and m["p50"].margin == 0.05
    assert "within the +20% margin" in reason_text(m["p99"])


def test_t_bounds_match_scipy():
    ratios = noisy_ratios(7, 0.02, 0.03, seed=6)
    one = JudgeConfig(metrics=("p95",))
    m = judge(pairs(ratios), one, REV, REV).metrics[0]
    logs = np.log(ratios)
    # Family of one: both bounds at the plain one-sided level 0.05, i.e. a two-sided 90% t interval.
    ci = stats.ttest_1samp(logs, 0.0).confidence_interval(confidence_level=0.90)
    assert math.log(m.ci_low) == pytest.approx(ci.low, rel=1e-9)
    assert math.log(m.ci_high) == pytest.approx(ci.high, rel=1e-9)
    p = stats.ttest_1samp(logs, math.log(1.05), alternative="greater").pvalue
    assert m.p_value == pytest.approx(p, rel=1e-9)
    assert m.ratio == pytest.approx(math.exp(logs.mean()))


def test_error_rate_proportion_test():
    cfg = JudgeConfig(metrics=("error_rate",))
    # 0.1% -> 5% errors in every pair: a regression, with a tiny Fisher p-value.
    m = judge(pairs([1.0] * 6, errors=(1, 50)), cfg, REV, REV).metrics[0]
    assert m.verdict is State.REGRESSION
    assert m.baseline == pytest.approx(0.001) and m.candidate == pytest.approx(0.05)
    assert m.ci_low > m.margin == 0.005
    assert "Fisher p=" in reason_text(m) and "pp" in reason_text(m)
    # No errors on either side: pass.
    assert judge(pairs([1.0] * 6), cfg, REV, REV).metrics[0].verdict is State.PASS
    # A single bad round: pooled counts alone would call it, the round-level spread does not.
    rows = pairs([1.0] * 5, errors=(1, 1)) + pairs([1.0], errors=(1, 300), start_pair=5)
    m = judge(rows, cfg, REV, REV).metrics[0]
    table = [[305, 6000 - 305], [6, 6000 - 6]]
    assert stats.fisher_exact(table, alternative="greater").pvalue < 1e-50
    assert m.verdict is State.INCONCLUSIVE


def test_holm_levels_known_answer():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    adjusted, levels = holm_levels(p, 0.05)
    assert adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # 0.005 < 0.05/4 and 0.01 < 0.05/3 are rejected; 0.03 >= 0.05/2 stops the procedure.
    assert levels.tolist() == pytest.approx([0.05 / 3, 0.025, 0.025, 0.0125])
    assert ((adjusted < 0.05) == (p < levels)).all()


def test_adding_endpoints_does_not_add_false_alarms():
    """A metric just past the margin is called alone, not once 40 null endpoints join the family."""
    cfg = JudgeConfig(metrics=("p95",))
    edge = pairs(noisy_ratios(6, 0.09, 0.03, seed=11), name="edge")
    alone = judge(edge, cfg, REV, REV).metrics[0]
    crowd = list(edge)
    for k in range(40):
        crowd += pairs(noisy_ratios(6, 0.0, 0.03, seed=100 + k), name=f"e{k:02d}")
    verdict = judge(crowd, cfg, REV, REV)
    crowded = next(m for m in verdict.metrics if m.name == "edge")
    assert alone.verdict is State.REGRESSION
    assert crowded.verdict is not State.REGRESSION
    assert crowded.p_value == pytest.approx(min(1.0, alone.p_value * 41), rel=1e-6)
    assert crowded.ci_low < alone.ci_low  # the CI widens with the family
    assert not any(m.verdict is State.REGRESSION for m in verdict.metrics)


def test_many_null_metrics_no_regression_across_seeds():
    cfg = JudgeConfig(metrics=("p50", "p95", "p99"))
    for seed in range(20):
        rows = []
        for k in range(10):
            rows += pairs(noisy_ratios(6, 0.0, 0.04, seed=seed * 100 + k), name=f"n{k}")
        assert judge(rows, cfg, REV, REV).state is not State.REGRESSION


def test_names_below_min_count_are_skipped_with_a_note():
    rows = pairs([1.0] * 6) + pairs([2.0] * 6, name="rare", count=5)
    verdict = judge(rows, CONFIG, REV, REV)
    assert {m.name for m in verdict.metrics} == {"login"}
    assert any("rare" in note and "min_count" in note for note in map(note_text, verdict.notes))
    assert verdict.state is State.PASS


def test_unpaired_rounds_are_ignored_and_reruns_replace():
    rows = pairs([1.0] * 6)
    orphan = RoundMetrics(99, 99, "chat", Side.CANDIDATE, "login", {"p95": 1e9}, 1000, 0)
    rerun = [RoundMetrics(50, 0, "chat", Side.CANDIDATE, "login", {**rows[1].values}, 1000, 0)]
    verdict = judge(rows + [orphan] + rerun, JudgeConfig(metrics=("p95",)), REV, REV)
    assert verdict.state is State.PASS
    assert verdict.metrics[0].rounds == 7  # duet: rounds 0-5, and round 50 replaced the candidate of pair 0


def test_multiple_scenarios_and_verdict_reason():
    rows = pairs([1.0] * 6, scenario="chat") + pairs(noisy_ratios(6, 0.4, 0.02, seed=7), scenario="storm")
    verdict = judge(rows, CONFIG, REV, REV, run_id="r1", invalid_rounds=1, confirmation_rounds=2)
    assert verdict.state is State.REGRESSION
    assert verdict_text(verdict).startswith("regression: storm/p")
    assert (verdict.run_id, verdict.invalid_rounds, verdict.confirmation_rounds) == ("r1", 1, 2)
    assert verdict.rounds == 12
    assert {m.scenario for m in verdict.metrics if m.verdict is State.REGRESSION} == {"storm"}


def test_min_pairs_constant():
    assert MIN_PAIRS == 3
    # Exactly MIN_PAIRS identical pairs may pass.
    assert judge(pairs([1.0] * 3), CONFIG, REV, REV).state is State.PASS


def test_tail_quantiles_need_enough_requests_per_round():
    from perfgate.config import JudgeConfig
    from perfgate.judge.compare import tail_samples_needed
    from perfgate.model import Revision, RoundMetrics, Side

    assert tail_samples_needed("p50") == 20 and tail_samples_needed("p99") == pytest.approx(1000)
    assert tail_samples_needed("throughput") == 0
    rev = Revision("HEAD", "a" * 40)
    values = {"p50": 1000.0, "p99": 5000.0, "throughput": 10.0, "error_rate": 0.0}
    metrics = [
        RoundMetrics(p, p, "chat", side, "send", dict(values), 300, 0)
        for p in range(6)
        for side in (Side.BASELINE, Side.CANDIDATE)
    ]
    verdict = judge(metrics, JudgeConfig(metrics=("p50", "p99")), rev, rev)
    assert [m.metric for m in verdict.metrics] == ["p50"]
    assert any("p99 (needs 1000) not judged" in note for note in map(note_text, verdict.notes))


def test_no_p_value_where_no_test_applies():
    verdict = judge(pairs([1.0] * (MIN_PAIRS - 1)), CONFIG, REV, REV)
    assert verdict.metrics and all(math.isnan(m.p_value) for m in verdict.metrics)  # shown as "—", never 1.000
    tested = judge(pairs([1.0] * 6), CONFIG, REV, REV)
    assert all(0.0 <= m.p_value <= 1.0 for m in tested.metrics if m.metric == "p50")
