"""``perfgate flaky``: which metrics flap, how noisy they are, and how many rounds would make them gateable."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from perfgate.commands._args import MAX_ROUNDS_HIGH, ROUNDS_LOW, check_option
from perfgate.commands._common import open_project
from perfgate.errors import PerfgateError
from perfgate.flaky import FlakyMetric, FlakyReport, analyse
from perfgate.formatting import share
from perfgate.outcome import Outcome
from perfgate.store import open_store
from perfgate.store.query import Key, Measurements


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--last", type=int, help="only the last N judged runs (default: all)")
    parser.add_argument("--budget", type=int, help="pairs a gate may spend (default: [rounds] max)")
    parser.add_argument("--fingerprint", help="machine fingerprint to analyse (default: this machine's)")
    parser.add_argument("--json", type=Path, dest="json_path", help="write the analysis as JSON")
    parser.add_argument("--config", type=Path, help="perfgate.toml or pyproject.toml (default: search the repo)")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")


def run(args: argparse.Namespace, console: Console) -> Outcome:
    check_option("--last", args.last, low=1)
    check_option("--budget", args.budget, low=ROUNDS_LOW, high=MAX_ROUNDS_HIGH)
    config = open_project(args).config
    key = Key.of(config, args.fingerprint)
    report = analyse(
        Measurements(open_store(config.store, config.root)), config, key=key, last=args.last, budget=args.budget
    )
    out = Console(highlight=False)
    if not report.metrics:
        out.print(
            f"no judged runs in the store for config {key.config_hash} on machine {key.fingerprint}", markup=False
        )
        return Outcome.OK
    if out.width >= TABLE_WIDTH:
        out.print(_table(report))
    else:
        for line in _records(report):
            out.print(line, markup=False)
    noisy = [m for m in report.metrics if m.gateable is False]
    out.print(
        f"{report.runs} judged runs ({report.aa_runs} A/A); budget {report.budget} pairs; {report.margin_note}",
        markup=False,
    )
    for m in noisy:
        need = f"needs about {m.rounds_needed} pairs" if m.rounds_needed else "needs more pairs than any budget"
        out.print(
            f"too noisy to gate: {'/'.join(m.key)} (sigma {m.sigma:.3g}) {need}; raise [rounds] max or "
            "its margin in [judge.margins], or drop it from [judge] metrics",
            markup=False,
        )
    if not noisy:
        out.print("every metric with a noise estimate is gateable at this budget", markup=False)
    suggested = {f"{m.key[1]}.{m.key[2]}": _round_up(m.margin_needed) for m in noisy if m.margin_needed is not None}
    if suggested:
        out.print(
            f"\nmargins at which those pass 95% of unchanged gates within {report.budget} pairs (smaller "
            "regressions then go unseen), for perfgate.toml:\n[judge.margins]",
            markup=False,
        )
        for spec, margin in suggested.items():
            out.print(f"{json.dumps(spec)} = {margin:g}", markup=False)
    if args.json_path is not None:
        _write_json(report, args.json_path)
    return Outcome.OK


def _round_up(margin: float) -> float:
    """Up to the next whole percent, so that the margin is reached, not just touched."""
    return math.floor(margin * 100 + 1) / 100


#: The table's columns, and the width below which each metric is printed as one record instead.
COLUMNS = (
    "scenario",
    "name",
    "metric",
    "verdicts",
    "flips",
    "repeat flips",
    "inconcl.",
    "round CV",
    "sigma",
    "noise from",
    "pairs needed",
    "gateable",
    "clustered",
    "flaps with",
)
NUMERIC = frozenset({"verdicts", "flips", "repeat flips", "inconcl.", "round CV", "sigma", "pairs needed"})
TABLE_WIDTH = 150


def _cells(m: FlakyMetric) -> tuple[str, ...]:
    """One metric's cells, in COLUMNS order."""
    return (
        *m.key,
        str(m.verdicts),
        share(m.flip_rate),
        share(m.repeat_flip_rate),
        share(m.inconclusive_rate),
        share(m.cv),
        "—" if not math.isfinite(m.sigma) else f"{m.sigma:.3g}",
        f"{m.noise_source} ({m.pairs})",
        str(m.rounds_needed or "—"),
        _gateable(m),
        "yes" if m.clustered else ("—" if not math.isfinite(m.runs_z) else "no"),
        f"group {m.group}" if m.group else "—",
    )


def _table(report: FlakyReport) -> Table:
    table = Table(title="metric flapping and noise", title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in NUMERIC else "left")
    for m in report.metrics:
        table.add_row(*_cells(m), style="yellow" if m.gateable is False else None)
    return table


def _records(report: FlakyReport) -> list[str]:
    """The table as one record per metric, for terminals too narrow for 14 columns (a CI log)."""
    lines = ["metric flapping and noise:"]
    for m in report.metrics:
        cells = _cells(m)
        head = " ".join(cells[:3])
        lines.append(f"{head}: " + ", ".join(f"{c} {v}" for c, v in zip(COLUMNS[3:], cells[3:], strict=True)))
    return lines


def _gateable(m: FlakyMetric) -> str:
    return {True: "yes", False: "NO", None: "—"}[m.gateable]


def _write_json(report: FlakyReport, path: Path) -> None:
    def clean(value: object) -> object:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    items = []
    for m in report.metrics:
        data = {k: clean(v) for k, v in asdict(m).items()}
        data.update(scenario=m.key[0], name=m.key[1], metric=m.key[2], clustered=m.clustered)
        del data["key"]
        items.append(data)
    payload = {"runs": report.runs, "aa_runs": report.aa_runs, "budget": report.budget, "metrics": items}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise PerfgateError(f"{path}: cannot write: {exc.strerror or exc}") from exc
