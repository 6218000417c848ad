"""Nodes of one deployment, each against the pool of them all (``perfgate nodes``). Pure.

All nodes take the same load at once, round after round. Per round, node k's value of a
latency metric is paired with the median of every node's value in that round, its own
included: with three nodes the median of the other two would be their mean, and one odd node
would pull its peers' pool its way. Its error rate is paired with the other nodes' requests
and errors summed, since Fisher's test needs disjoint counts. The pairs go through the gate's
own statistics: the paired log-ratios (:func:`~perfgate.judge.compare.ratio_evidence`, node
over pool, per round), and :func:`~perfgate.judge.compare.decide` with Holm over nodes x names
x metrics. A node whose whole interval lies above the margin is an outlier. This is the
question Kayenta's canary analysis asks, answered with round-level intervals instead of
pooled samples.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from perfgate.config import JudgeConfig
from perfgate.judge.compare import Pair, decide, error_evidence, ratio_evidence, tail_samples_needed
from perfgate.judge.rounds import QUANTILES, round_metrics
from perfgate.judge.rules import ERROR_RATE_FLOOR, MIN_PAIRS
from perfgate.model import Design, MetricComparison, Note, NoteKind, RoundMetrics, RoundRecord, Side, State

#: The latency metrics a node is judged on (against the median of all nodes'); and, when
#: [judge] metrics has it, error_rate (against its peers' requests and errors summed).
NODE_METRICS = (*QUANTILES, "mean")


@dataclass(frozen=True)
class NodeComparison:
    """Every node's metrics against its pool (``scenario`` of each comparison is the node's name)."""

    nodes: tuple[str, ...]
    rounds: int
    comparisons: tuple[MetricComparison, ...]
    notes: tuple[Note, ...] = ()

    @property
    def outliers(self) -> tuple[str, ...]:
        """Nodes with at least one metric beyond the margin, worst first."""
        worst: dict[str, float] = {}
        for c in self.comparisons:
            if c.verdict is State.REGRESSION:
                worst[c.scenario] = max(worst.get(c.scenario, 0.0), c.ci_low)
        return tuple(sorted(worst, key=lambda node: -worst[node]))

    @property
    def state(self) -> State:
        if self.outliers:
            return State.REGRESSION
        if not self.comparisons or any(c.verdict is State.INCONCLUSIVE for c in self.comparisons):
            return State.INCONCLUSIVE
        return State.PASS


def node_round_metrics(samples: pd.DataFrame, record: RoundRecord) -> dict[str, list[RoundMetrics]]:
    """One round's metrics per node (the samples' ``side`` is the node's name), by the gate's own rules."""
    out = {}
    for node, rows in samples.groupby("side", sort=True):
        as_one_side = rows.assign(side=Side.CANDIDATE.value)
        out[str(node)] = round_metrics(as_one_side.reset_index(drop=True), record)
    return out


def round_record(index: int, scenario: str, started_ns: int, measure_start_ns: int, ended_ns: int) -> RoundRecord:
    """The record :func:`node_round_metrics` reads its window from."""
    return RoundRecord("", index, scenario, Design.DUET, (), index, started_ns, measure_start_ns, ended_ns)


def compare_nodes(
    per_node: Mapping[str, Sequence[RoundMetrics]], config: JudgeConfig, scenario: str = ""
) -> NodeComparison:
    """Each node against the median of all nodes, paired by round; Holm over the whole family."""
    nodes = tuple(sorted(per_node))
    by_round: dict[tuple[str, int], dict[str, RoundMetrics]] = defaultdict(dict)  # (name, round) -> node -> metrics
    for node, node_metrics in per_node.items():
        for m in node_metrics:
            if m.count >= config.min_count:
                by_round[(m.name, m.round_index)][node] = m
    names = sorted({name for name, _ in by_round})
    metrics = [metric for metric in config.metrics if metric in NODE_METRICS]
    evidence, notes = [], []
    for name in names:
        counts = [one.count for (n, _), found in by_round.items() if n == name for one in found.values()]
        requests = float(np.median(counts))
        judged = [metric for metric in metrics if requests >= tail_samples_needed(metric)]
        thin = tuple((metric, tail_samples_needed(metric)) for metric in metrics if metric not in judged)
        if thin:
            notes.append(Note(NoteKind.THIN_TAIL, scenario, name, requests=requests, needs=thin))
        for node in nodes:
            rows = _pairs_against_pool(node, name, by_round)
            evidence += [ratio_evidence(node, name, metric, rows, config) for metric in judged]
            if "error_rate" in config.metrics:
                evidence.append(error_evidence(node, name, rows, config, ERROR_RATE_FLOOR))
    comparisons = decide(evidence, 1.0 - config.confidence) if evidence else []
    rounds = len({r for _, r in by_round})
    if rounds < MIN_PAIRS:
        notes.append(Note(NoteKind.FEW_ROUNDS, pairs=rounds, min_count=MIN_PAIRS))
    return NodeComparison(nodes, rounds, tuple(comparisons), tuple(notes))


def _pairs_against_pool(
    node: str, name: str, by_round: Mapping[tuple[str, int], dict[str, RoundMetrics]]
) -> list[Pair]:
    """Per round where ``node`` and at least one other node served ``name``: (pool, node). The
    pool's latencies are the medians of every node's, ``node``'s own included; its requests and
    errors are the other nodes' summed."""
    rows = []
    for (n, _), found in sorted(by_round.items()):
        others = [m for other, m in found.items() if other != node]
        if n != name or node not in found or not others:
            continue
        pool = {metric: _median([m.values.get(metric, math.nan) for m in found.values()]) for metric in NODE_METRICS}
        count, errors = sum(m.count for m in others), sum(m.errors for m in others)
        pool["error_rate"] = errors / count if count else math.nan
        mine = found[node]
        rows.append((replace(mine, side=Side.BASELINE, values=pool, count=count, errors=errors), mine))
    return rows


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan
