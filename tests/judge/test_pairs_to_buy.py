"""The sequential design's one rule, which the gate, bisect and the simulation all follow."""

from __future__ import annotations

from perfgate.judge import pairs_to_buy


def test_scenarios_short_of_the_planned_pairs_are_brought_up_to_them():
    assert pairs_to_buy({"chat": 0, "storm": 4}, set(), 6, 10) == {"chat": 6, "storm": 2}


def test_undecided_scenarios_buy_up_to_their_next_look_until_the_budget():
    assert pairs_to_buy({"chat": 6}, {"chat"}, 6, 10) == {"chat": 2}  # looks at 6, 8, 10
    assert pairs_to_buy({"chat": 8}, {"chat"}, 6, 10) == {"chat": 2}
    assert pairs_to_buy({"chat": 10}, {"chat"}, 6, 10) == {}


def test_decided_scenarios_and_red_gates_buy_nothing():
    assert pairs_to_buy({"chat": 6, "storm": 6}, {"storm"}, 6, 10) == {"storm": 2}
    assert pairs_to_buy({"chat": 6, "storm": 6}, {"storm"}, 6, 10, red=True) == {}
    assert pairs_to_buy({"chat": 2}, {"chat"}, 6, 10, red=True) == {}


def test_pairs_reused_beyond_a_look_go_to_the_next_one():
    assert pairs_to_buy({"chat": 7}, {"chat"}, 6, 10) == {"chat": 1}
