"""``perfgate nodes URL1 URL2 … URLn``: every node of one deployment under the same load at once,
each judged against the pool of them all (:mod:`perfgate.judge.nodes`).

The nodes are live targets: perfgate starts nothing, checks each one ready, and holds the load
to ``[live]``'s limits per node (rate, request cap, maximum duration, error-rate abort), in
one load process whose "sides" are the nodes. Nothing is stored: the comparison is returned.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from perfgate import leftovers
from perfgate.config import Config
from perfgate.errors import ConfigError, LiveAbort
from perfgate.judge.nodes import NodeComparison, compare_nodes, node_round_metrics, round_record
from perfgate.judge.rules import MIN_PAIRS
from perfgate.live import LiveBudget, LiveTarget, check_live_limits, requests_by_side
from perfgate.load.runner import LoadLimits, LoadTarget, check_locustfile, invalid_reason, run_load
from perfgate.load.specs import load_spec
from perfgate.measurelock import measurement_lock
from perfgate.model import Note, NoteKind, RoundMetrics, Side
from perfgate.procs import check_stop

#: The fewest nodes whose odd one out can be named.
MIN_NODES = 3


def node_names(urls: list[str]) -> list[str]:
    return [f"node{k}" for k in range(1, len(urls) + 1)]


def run_nodes(
    config: Config, repo_dir: Path, urls: list[str], rounds: int, message: Callable[[str], None] = lambda _: None
) -> NodeComparison:
    """``rounds`` rounds of the config's first scenario across every node at once, then the comparison."""
    if len(urls) < MIN_NODES:
        raise ConfigError(f"perfgate nodes: needs at least {MIN_NODES} URLs to name an odd one out, not {len(urls)}")
    if len(set(urls)) != len(urls):
        raise ConfigError("perfgate nodes: a URL is given twice")
    check_live_limits(config)
    scenario = config.scenarios[0]
    names = node_names(urls)
    for name, url in zip(names, urls):
        LiveTarget(config.target, Side.CANDIDATE, url, name=name).wait_ready()
    scratch = leftovers.make_scratch(repo_dir)
    try:
        check_locustfile(load_spec(config, scenario, ()), scratch / "check")
        budget = LiveBudget(config.live)
        targets = tuple(LoadTarget(name, url) for name, url in zip(names, urls))
        per_node: dict[str, list[RoundMetrics]] = {name: [] for name in names}
        stopped = ""
        with measurement_lock(wait=True, on_wait=message):
            for index in range(rounds):
                check_stop()
                stopped = budget.refusal(scenario.warmup + scenario.duration, names)
                if stopped:
                    message(f"no more rounds: {stopped}")
                    break
                spec = load_spec(config, scenario, targets, budget)
                spec = replace(
                    spec, limits=replace(spec.limits or LoadLimits(), max_requests=min(map(budget.left, names)))
                )
                result = run_load(spec, scratch / f"round-{index:03d}", watch=check_stop)
                samples = result.samples.to_pandas()
                budget.spend(requests_by_side(result.samples))
                if result.aborted:
                    raise LiveAbort(f"perfgate nodes: round {index} aborted: {result.aborted}; the run stopped at once")
                why = invalid_reason(result.generator_cpu, result.loop_lag_ms_p50)
                if why:
                    message(f"round {index} invalid ({why}); left out")
                    continue
                record = round_record(index, scenario.name, result.started_ns, result.measure_start_ns, result.ended_ns)
                for name, metrics in node_round_metrics(samples, record).items():
                    per_node[name] += metrics
                message(f"round {index + 1} of {rounds} measured")
        comparison = compare_nodes(per_node, config.judge, scenario.name)
        if stopped:
            comparison = replace(comparison, notes=(*comparison.notes, Note(NoteKind.STOPPED, text=stopped)))
        return comparison
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def check_rounds(rounds: int) -> None:
    if rounds < MIN_PAIRS:
        raise ConfigError(f"--rounds: at least {MIN_PAIRS}, not {rounds}")
