import pytest

from perfgate.config import JudgeConfig
from perfgate.formatting import note_text
from perfgate.judge import judge, look_index, look_levels, look_schedule, needs_confirmation, next_look_pairs
from perfgate.model import State
from tests.judge.helpers_judge import REV, noisy_ratios, pairs


def test_schedule_and_look_index():
    assert look_schedule(6, 12) == (6, 9, 12)
    assert look_schedule(6, 6) == (6,)
    assert look_schedule(6, 7) == (6, 7)
    assert look_schedule(6, 12, looks=2) == (6, 12)
    schedule = (6, 9, 12)
    assert [look_index(n, schedule) for n in (3, 6, 7, 9, 12, 15)] == [1, 1, 2, 2, 3, 3]
    assert next_look_pairs(6, 6, 12) == 3 and next_look_pairs(9, 6, 12) == 3 and next_look_pairs(12, 6, 12) == 0


def test_spending_sums_to_alpha_and_is_back_loaded():
    schedule = look_schedule(6, 12)
    levels = [look_levels(schedule, k, 0.05) for k in (1, 2, 3)]
    assert sum(r for r, _ in levels) == pytest.approx(0.05)
    assert sum(p for _, p in levels) == pytest.approx(0.05)
    assert levels[0][0] < levels[1][0] < levels[2][0]
    assert look_levels((6,), 1, 0.05) == (0.05, 0.05)


def test_needs_confirmation():
    cfg = JudgeConfig(metrics=("p95",))
    unsure = judge(pairs(noisy_ratios(6, 0.04, 0.05, seed=4)), cfg, REV, REV, planned_pairs=6, budget_pairs=12)
    assert unsure.state is State.INCONCLUSIVE
    assert needs_confirmation(unsure, {"chat": 6}, 12) == {"chat"}
    assert needs_confirmation(unsure, {"chat": 12}, 12) == set()
    clean = judge(pairs([1.0] * 6), cfg, REV, REV, planned_pairs=6, budget_pairs=12)
    assert needs_confirmation(clean, {"chat": 6}, 12) == set()
    red = judge(
        pairs([1.5] * 6) + pairs(noisy_ratios(6, 0.04, 0.05, seed=4), scenario="other"),
        cfg,
        REV,
        REV,
        planned_pairs=6,
        budget_pairs=12,
    )
    assert red.state is State.REGRESSION
    assert needs_confirmation(red, {"chat": 6, "other": 6}, 12) == set()


def test_looks_use_their_share_of_alpha():
    cfg = JudgeConfig(metrics=("p95",))
    rows = pairs(noisy_ratios(6, 0.01, 0.02, seed=8))
    fixed = judge(rows, cfg, REV, REV).metrics[0]
    first_look = judge(rows, cfg, REV, REV, planned_pairs=6, budget_pairs=12).metrics[0]
    # Look 1 of 3 spends ~0.0056 of 0.05: a wider interval than a single fixed look.
    assert first_look.ci_high > fixed.ci_high
    assert first_look.ci_low < fixed.ci_low
    verdict = judge(rows, cfg, REV, REV, planned_pairs=6, budget_pairs=12)
    assert any("looks at 6, 9, 12" in note for note in map(note_text, verdict.notes))
