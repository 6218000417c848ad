"""``perfgate bisect GOOD BAD``: find the first commit that regresses, with the gate's verdict at each step.

Exit codes: 0 when the first bad commit is found (or GOOD → BAD is no
regression), 2 when a step stayed inconclusive within the budget (the commits
still suspect are listed), 3 on an error.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from perfgate.bisect import BisectResult, Ending, Step, Watch, bisect
from perfgate.commands._common import (
    STYLE,
    RichProgress,
    add_gate_arguments,
    gate_options,
    open_project,
)
from perfgate.errors import PerfgateError
from perfgate.formatting import reason_text
from perfgate.judge.names import check_metric_names
from perfgate.model import Revision, RoundRecord
from perfgate.outcome import Outcome
from perfgate.store import LocalStore, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("good", metavar="GOOD", help="a revision without the regression")
    parser.add_argument("bad", metavar="BAD", help="a later revision with it")
    parser.add_argument(
        "--metric", help="judge steps on METRIC or NAME.METRIC only, e.g. login.p95 (default: every judged metric)"
    )
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    add_gate_arguments(parser)
    parser.set_defaults(inconclusive=None)


def run(args: argparse.Namespace, console: Console) -> Outcome:
    watch = Watch.parse(args.metric)
    project = open_project(args)
    root, config = project.root, project.config
    options = gate_options(args, args.good, args.bad)
    out = Console(highlight=False)

    def show(step: Step) -> None:
        source = "from the store" if step.gates == 0 else f"{step.gates} gate{'s' if step.gates != 1 else ''}"
        out.print(
            f"  {step.revision.sha[:10]} [{STYLE[step.state]}]{step.state.value}[/] ({step.pairs} pairs, {source}): ",
            end="",
        )
        out.print(step_text(step), markup=False)

    out.print(f"bisecting {args.good}..{args.bad} on {watch.label()}", markup=False)
    with _WatchedNames(console, watch, open_store(config.store, config.root), args.quiet) as progress:
        result = bisect(config, root, args.good, args.bad, options, watch=watch, progress=progress, on_step=show)
    print_result(out, result)
    if args.json_path is not None:
        write_json(result, args.json_path)
    return Outcome.OK if result.found or not result.suspects else Outcome.INCONCLUSIVE


class _WatchedNames(RichProgress):
    """Progress that stops the bisect after the first valid round when ``--metric NAME.METRIC``
    names no request that round made (it would otherwise judge nothing, gate after gate)."""

    def __init__(self, console: Console, watch: Watch, store: LocalStore, quiet: bool = False):
        super().__init__(console, quiet=quiet)
        self.watch, self.store, self.checked = watch, store, watch.name is None

    def round_finished(self, record: RoundRecord, requests: int = 0) -> None:
        super().round_finished(record, requests)
        if record.valid and not self.checked:
            names = self.store.samples(record.run_id, record.index)["name"].dropna().unique()
            check_metric_names([self.watch.label()], (str(n) for n in names), where="--metric")
            self.checked = True


def step_text(step: Step) -> str:
    """A step's evidence in words: its deciding metric's reason."""
    deciding = step.deciding
    if deciding is None:
        return f"no metric could be judged after {step.pairs} pairs"
    return reason_text(deciding) + (f" (budget of {step.budget} pairs spent)" if step.spent else "")


def result_text(result: BisectResult) -> str:
    """How the bisect ended, in one line."""
    watched, last = result.watch.label(), result.last_step
    if result.ending is Ending.NO_REGRESSION:
        return f"no regression of {watched} from GOOD to BAD: {step_text(last)}"
    if result.ending is Ending.UNCONFIRMED:
        return f"BAD is not a confirmed regression of {watched}: {step_text(last)}"
    if result.ending is Ending.STOPPED:
        suspects = f"{len(result.suspects)} commits still suspect"
        return f"stopped: {last.revision.short} stayed inconclusive ({step_text(last)}); {suspects}"
    first_bad = result.first_bad or last.revision
    return f"first bad commit: {first_bad.short} “{first_bad.subject}”"


def print_result(out: Console, result: BisectResult) -> None:
    table = Table(title=f"GOOD {result.good.short} → each step ({result.watch.label()})", title_justify="left")
    for column in ("commit", "subject", "verdict", "pairs", "gates", "evidence"):
        table.add_column(column, justify="right" if column in ("pairs", "gates") else "left")
    for step in result.steps:
        table.add_row(
            step.revision.sha[:10],
            step.revision.subject[:40],
            step.state.value,
            str(step.pairs),
            str(step.gates),
            step_text(step),
            style=STYLE[step.state],
        )
    out.print(table)
    out.print(result_text(result), markup=False, style="bold" if result.found else None)
    if result.found and result.last_good is not None:
        out.print(f"last good: {result.last_good.short} “{result.last_good.subject}”", markup=False)
    elif result.suspects:
        out.print("still suspect: " + ", ".join(r.short for r in result.suspects), markup=False)
    out.print(
        f"{result.gates} gates run, {sum(s.gates == 0 for s in result.steps)} of {len(result.steps)} "
        f"steps decided from the store, wall time {result.wall_s:.1f} s",
        markup=False,
    )


def _revision(rev: Revision | None) -> dict[str, str] | None:
    return None if rev is None else {"sha": rev.sha, "subject": rev.subject}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def write_json(result: BisectResult, path: Path) -> None:
    data = {
        "good": _revision(result.good),
        "bad": _revision(result.bad),
        "metric": result.watch.label(),
        "first_bad": _revision(result.first_bad),
        "last_good": _revision(result.last_good),
        "suspects": [_revision(r) for r in result.suspects],
        "gates": result.gates,
        "wall_s": round(result.wall_s, 2),
        "message": result_text(result),
        "steps": [
            {
                "commit": _revision(s.revision),
                "verdict": s.state.value,
                "pairs": s.pairs,
                "gates": s.gates,
                "runs": list(s.run_ids),
                "reason": step_text(s),
                "evidence": [
                    {
                        "name": m.name,
                        "metric": m.metric,
                        "ratio": _finite(m.ratio),
                        "ci_low": _finite(m.ci_low),
                        "ci_high": _finite(m.ci_high),
                        "verdict": m.verdict.value,
                    }
                    for m in s.evidence
                ],
            }
            for s in result.steps
        ],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise PerfgateError(f"{path}: cannot write: {exc.strerror or exc}") from exc
