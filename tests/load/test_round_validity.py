"""One rule says when a round's load cannot be trusted, for local and cluster rounds alike."""

from __future__ import annotations

from perfgate.load.runner import LAGGING_MS, SATURATED_CPU, invalid_reason


def test_a_saturated_or_lagging_generator_invalidates_the_round():
    assert invalid_reason(SATURATED_CPU + 1, 0.5).startswith("load generator saturated")
    assert invalid_reason(40.0, LAGGING_MS + 5).startswith("load generator fell behind")
    assert invalid_reason(40.0, 0.5) == ""


def test_an_unmeasured_loop_lag_is_not_held_against_a_cluster_round():
    assert invalid_reason(40.0, None) == ""
    assert invalid_reason(SATURATED_CPU + 1, None).startswith("load generator saturated")
