"""``perfgate backfill REV_RANGE``: measure each commit of a range; resumes, skips stored commits."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from perfgate.backfill import BackfillStep, backfill
from perfgate.commands._args import check_option
from perfgate.commands._common import RichProgress, add_gate_arguments, gate_options, open_project
from perfgate.outcome import Outcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("range", metavar="REV_RANGE", help="commits to measure: A..B, or one revision (its history)")
    parser.add_argument("--limit", type=int, help="at most this many commits (the newest of the range)")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    add_gate_arguments(parser)


def run(args: argparse.Namespace, console: Console) -> Outcome:
    check_option("--limit", args.limit, low=1)  # 0 or -3 would be read as "no limit"
    project = open_project(args)
    root, config = project.root, project.config
    options = gate_options(args, "HEAD~1", "HEAD")
    out = Console(highlight=False)

    def show(step: BackfillStep) -> None:
        what = "already stored, skipped" if step.status == "stored" else f"{step.state} (run {step.run_id})"
        out.print(f"{step.revision.sha[:10]} {step.revision.subject[:60]}: {what}", markup=False)

    with RichProgress(console, quiet=args.quiet) as progress:
        steps = backfill(config, root, args.range, options, progress=progress, on_step=show, limit=args.limit)
    measured = sum(s.status == "measured" for s in steps)
    out.print(
        f"backfill: {len(steps)} commits, {measured} measured, {len(steps) - measured} already stored", markup=False
    )
    return Outcome.OK
