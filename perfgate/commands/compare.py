"""``perfgate compare RUN [RUN_B]``: judge stored rounds again without re-measuring.

With one run, its own rounds are judged again (say with another ``--margin``).
With two runs, the candidate side of RUN_B is compared with the candidate side
of RUN (``--side`` picks another), pairing their rounds in order. Rounds from
different runs did not share the machine's noise, so expect wider intervals.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from perfgate.codec import verdict_to_dict
from perfgate.commands._args import MARGIN_HIGH, MARGIN_LOW, check_option
from perfgate.commands._common import print_verdict
from perfgate.config import JudgeConfig, load_config
from perfgate.judge import judge
from perfgate.model import RoundMetrics, Side
from perfgate.outcome import Outcome, gate_outcome
from perfgate.store import open_existing_store
from perfgate.store.query import judge_evidence, stored_evidence


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN", help="run id, unique prefix, or 'latest'")
    parser.add_argument("run_b", metavar="RUN_B", nargs="?", help="a second run to compare against RUN")
    parser.add_argument(
        "--side",
        choices=[s.value for s in Side],
        default=Side.CANDIDATE.value,
        help="with two runs: which side of each run to compare (default: candidate)",
    )
    parser.add_argument("--store", type=Path, default=Path(".perfgate"), help="the store (default: .perfgate)")
    parser.add_argument("--config", type=Path, help="take [judge] settings from this config")
    parser.add_argument("--margin", type=float, help="practical margin, e.g. 0.05")
    parser.add_argument("--json", type=Path, dest="json_path", help="write the verdict as JSON")
    parser.add_argument("--inconclusive", choices=["fail", "pass", "warn"], default=None)


def _side_as(metrics: list[RoundMetrics], side: Side, new_side: Side) -> list[RoundMetrics]:
    chosen = [m for m in metrics if m.side is side]
    pairs = {p: i for i, p in enumerate(sorted({m.pair for m in chosen}))}
    return [replace(m, side=new_side, pair=pairs[m.pair]) for m in chosen]


def run(args: argparse.Namespace, console: Console) -> Outcome:
    check_option("--margin", args.margin, low=MARGIN_LOW, high=MARGIN_HIGH)
    store = open_existing_store(args.store)
    config: JudgeConfig = load_config(args.config).judge if args.config else JudgeConfig()
    if args.margin is not None:
        config = replace(config, margin=args.margin)
    run_a = store.resolve(args.run_a)
    manifest_a = store.manifest(run_a)
    if args.run_b is None:  # the run's own pairs, hard checks included
        baseline, candidate = manifest_a.baseline, manifest_a.candidate
        # The run's own sequential design: its confirmation looks spent part of the error rates.
        rounds = manifest_a.config.get("rounds", {})
        looks = (
            {"planned_pairs": rounds["count"], "budget_pairs": rounds["max"]}
            if "count" in rounds and "max" in rounds
            else {}
        )
        verdict = judge_evidence(stored_evidence(store, run_a), config, baseline, candidate, run_id=run_a, **looks)
    else:  # one side of each of two runs: no outage pairs to check
        side = Side(args.side)
        run_b = store.resolve(args.run_b)
        metrics = _side_as(stored_evidence(store, run_a).metrics, side, Side.BASELINE) + _side_as(
            stored_evidence(store, run_b).metrics, side, Side.CANDIDATE
        )
        baseline, candidate = manifest_a.revision(side), store.manifest(run_b).revision(side)
        verdict = judge(metrics, config, baseline, candidate, run_id=run_a)
    if args.json_path:
        import json

        args.json_path.write_text(json.dumps(verdict_to_dict(verdict), indent=2))
    print_verdict(Console(highlight=False), verdict)
    return gate_outcome(verdict.state, args.inconclusive or config.inconclusive)
