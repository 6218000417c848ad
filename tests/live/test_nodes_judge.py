"""The nodes comparison as a pure function: each node against the median of all nodes, by round."""

from __future__ import annotations

import numpy as np

from perfgate.config import JudgeConfig
from perfgate.formatting import note_text
from perfgate.judge.nodes import compare_nodes
from perfgate.model import RoundMetrics, Side, State

CONFIG = JudgeConfig(metrics=("p50", "error_rate"))


def rounds(
    slow: dict[str, float], seed: int, n: int = 5, failing: dict[str, float] | None = None
) -> dict[str, list[RoundMetrics]]:
    """Round metrics of nodes whose p50 is 10 ms times a shared per-round factor, a node's own
    noise (3%) and its slowdown."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[RoundMetrics]] = {node: [] for node in slow}
    for r in range(n):
        shared = rng.lognormal(0, 0.2)  # the machine's noise moves every node in a round together
        for node, factor in slow.items():
            p50 = 10_000 * shared * factor * rng.lognormal(0, 0.03)
            errors = int(rng.binomial(200, (failing or {}).get(node, 0.005)))
            values = {"p50": p50, "error_rate": errors / 200}
            out[node].append(RoundMetrics(r, r, "chat", Side.CANDIDATE, "login", values, 200, errors))
    return out


def test_the_slow_node_is_named_and_only_it():
    found = compare_nodes(rounds({"node1": 1.0, "node2": 1.0, "node3": 1.5, "node4": 1.0}, seed=1), CONFIG)
    assert found.outliers == ("node3",) and found.state is State.REGRESSION
    by_node = {c.scenario: c for c in found.comparisons}
    assert 1.35 < by_node["node3"].ratio < 1.65
    assert by_node["node1"].verdict is not State.REGRESSION


def test_alike_nodes_never_make_an_outlier():
    for seed in range(20):
        found = compare_nodes(rounds({"node1": 1.0, "node2": 1.0, "node3": 1.0}, seed=seed), CONFIG)
        assert found.outliers == (), seed


def test_one_odd_node_does_not_push_its_peers_out():
    """Three nodes, one 25% faster (its users busy elsewhere): against the median of the other
    two, that is their mean, each alike peer would read about +14%, past the 5% margin."""
    for seed in range(20):
        found = compare_nodes(rounds({"node1": 1.0, "node2": 1.0, "node3": 0.75}, seed=seed), CONFIG)
        assert found.outliers == (), (seed, found.comparisons)
        by_node = {c.scenario: c for c in found.comparisons if c.metric == "p50"}
        assert by_node["node3"].verdict is State.IMPROVEMENT, (seed, by_node["node3"])


def test_too_few_rounds_name_nobody():
    found = compare_nodes(rounds({"node1": 1.0, "node2": 1.0, "node3": 3.0}, seed=2, n=2), CONFIG)
    assert found.outliers == () and found.state is State.INCONCLUSIVE
    assert any("at least 3 are needed" in note_text(note) for note in found.notes)


def test_a_node_that_fails_more_is_named_on_its_error_rate():
    failing = {"node2": 0.10}
    found = compare_nodes(rounds({"node1": 1.0, "node2": 1.0, "node3": 1.0}, seed=3, failing=failing), CONFIG)
    assert found.outliers == ("node2",), found.comparisons
    errors = {c.scenario: c for c in found.comparisons if c.metric == "error_rate"}
    assert errors["node2"].verdict is State.REGRESSION and errors["node2"].candidate > 0.07
    assert {c.metric for c in found.comparisons if c.verdict is State.REGRESSION} == {"error_rate"}
