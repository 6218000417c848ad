"""``perfgate nodes URL1 URL2 … URLn``: name the node of one deployment that is slower than its peers."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from perfgate.commands._args import check_option
from perfgate.commands._common import STYLE, open_project
from perfgate.errors import ConfigError
from perfgate.formatting import change_with_ci, note_text, value_text
from perfgate.limits import MARGIN_HIGH, MARGIN_LOW, ROUNDS_HIGH
from perfgate.outcome import Outcome, gate_outcome

if TYPE_CHECKING:
    from perfgate.judge.nodes import NodeComparison


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("urls", nargs="+", metavar="URL", help="every node of the deployment (at least 3)")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the repository holding the config (default: .)")
    parser.add_argument("--config", type=Path, help="perfgate.toml or pyproject.toml (default: search the repo)")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds, each pairs every node with the pool of all nodes (default: [rounds] count pairs)",
    )
    parser.add_argument("--margin", type=float, help="practical margin against the pool, e.g. 0.1 for 10%%")
    parser.add_argument("--json", type=Path, dest="json_path", help="write the comparison as JSON")
    parser.add_argument(
        "--inconclusive", choices=["fail", "pass", "warn"], help="exit code when no node can be called: 1, 0 or 2"
    )
    parser.add_argument("--quiet", action="store_true", help="only the table, the outcome and errors")


def run(args: argparse.Namespace, console: Console) -> Outcome:
    from perfgate.nodes import check_rounds, node_names, run_nodes

    for url in args.urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"URL: must be an http:// or https:// URL, not {url!r}")
    check_option("--rounds", args.rounds, low=1, high=ROUNDS_HIGH)
    check_option("--margin", args.margin, low=MARGIN_LOW, high=MARGIN_HIGH)
    project = open_project(args)
    config = project.config
    if args.margin is not None:
        config = replace(config, judge=replace(config.judge, margin=args.margin))
    rounds = args.rounds or config.rounds.count
    check_rounds(rounds)
    urls = [url.rstrip("/") for url in args.urls]
    log = Console(highlight=False, quiet=args.quiet)
    comparison = run_nodes(config, project.root, urls, rounds, lambda line: log.print(line, markup=False))
    where = dict(zip(node_names(urls), urls))
    table = Table(title=f"each node against the median of all nodes, {comparison.rounds} rounds")
    for column in ("node", "request", "metric", "pool", "node value", "change [CI]", "state"):
        table.add_column(column)
    for c in comparison.comparisons:
        cells = (c.baseline, c.candidate)
        row = [c.scenario, c.name, c.metric, *(value_text(v, c.metric) for v in cells), change_with_ci(c)]
        table.add_row(*row, c.verdict.value, style=STYLE.get(c.verdict))
    Console(highlight=False).print(table)
    for note in comparison.notes:
        log.print(f"note: {note_text(note)}", markup=False)
    outliers = comparison.outliers
    line = ", ".join(f"{n} ({where[n]})" for n in outliers) if outliers else "none"
    Console(highlight=False).print(f"outlier: {line}", markup=False)
    if args.json_path:
        args.json_path.write_text(json.dumps(_to_dict(comparison, where), indent=2, allow_nan=False))
    return gate_outcome(comparison.state, args.inconclusive or config.judge.inconclusive)


def _to_dict(comparison: NodeComparison, where: dict[str, str]) -> dict[str, object]:
    def finite(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return {
        "state": comparison.state.value,
        "outliers": list(comparison.outliers),
        "nodes": where,
        "rounds": comparison.rounds,
        "notes": [note_text(note) for note in comparison.notes],
        "comparisons": [
            {
                "node": c.scenario,
                "name": c.name,
                "metric": c.metric,
                "pool": finite(c.baseline),
                "value": finite(c.candidate),
                "ratio": finite(c.ratio),
                "ci_low": finite(c.ci_low),
                "ci_high": finite(c.ci_high),
                "p_value": finite(c.p_value),
                "verdict": c.verdict.value,
            }
            for c in comparison.comparisons
        ],
    }
