"""``perfgate history``: per-commit series with a confidence band and change points;
a terminal table and an HTML trend page whose points link to their gate reports."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from perfgate.commands._args import check_option
from perfgate.commands._common import open_project
from perfgate.config import METRICS
from perfgate.errors import ConfigError, PerfgateError
from perfgate.formatting import percent, request_label, value_text
from perfgate.gitops import list_commits
from perfgate.history import build_history
from perfgate.judge.changepoint import PENALTY
from perfgate.judge.names import check_metric_names
from perfgate.model import Series
from perfgate.outcome import Outcome
from perfgate.report.trend import render_trend
from perfgate.store import LocalStore, open_store
from perfgate.store.query import Key, Measurements


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "range",
        metavar="REV_RANGE",
        nargs="?",
        default="HEAD",
        help="commits to show: A..B, or one revision and its history (default: HEAD)",
    )
    parser.add_argument("--limit", type=int, default=100, help="at most this many commits, the newest (default 100)")
    parser.add_argument(
        "--metric",
        action="append",
        default=[],
        choices=METRICS,
        help="metric to show (repeatable; default: the config's judged metrics)",
    )
    parser.add_argument("--name", action="append", default=[], help="only this request name (repeatable)")
    parser.add_argument("--html", type=Path, help="trend page (default: <report dir>/history.html)")
    parser.add_argument("--fingerprint", help="machine fingerprint to show (default: this machine's)")
    parser.add_argument(
        "--penalty",
        type=float,
        default=PENALTY,
        help=f"cost of a change point in units of log(n): higher finds fewer (default {PENALTY:g})",
    )
    parser.add_argument("--all", action="store_true", help="print every series, not only those with a change")
    parser.add_argument("--config", type=Path, help="perfgate.toml or pyproject.toml (default: search the repo)")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")


def run(args: argparse.Namespace, console: Console) -> Outcome:
    check_option("--limit", args.limit, low=1)
    if not (args.penalty > 0 and math.isfinite(args.penalty)):
        raise ConfigError(f"--penalty: must be a positive number, not {args.penalty}")
    project = open_project(args)
    root, config = project.root, project.config
    commits = list_commits(root, args.range, args.limit)
    key = Key.of(config, args.fingerprint)
    store = open_store(config.store, config.root)
    measurements = Measurements(store)
    series = build_history(
        measurements,
        commits,
        config,
        key=key,
        metrics=args.metric or None,
        names=tuple(args.name),
        penalty=args.penalty,
    )
    _check_names(
        args,
        series,
        lambda: build_history(
            measurements, commits, config, key=key, metrics=args.metric or None, penalty=args.penalty
        ),
    )
    out = Console(highlight=False)
    if not series:
        out.print(
            f"no stored rounds for these {len(commits)} commits on this machine and config "
            f"(config {key.config_hash}, machine {key.fingerprint}); run `perfgate backfill {args.range}`",
            markup=False,
        )
        return Outcome.OK
    shown = [s for s in series if s.changes or args.all] or series[:1]
    for s in shown:
        out.print(_table(s, len(commits)))
    _print_changes(out, series)
    page = args.html or (config.root / config.report_dir / "history.html")
    reports = _reports(store, series, config.root / config.report_dir)
    html = render_trend(
        series,
        title=f"{root.name} {args.range}",
        commits=len(commits),
        key=key,
        confidence=config.judge.confidence,
        reports=reports,
        page=page,
    )
    try:
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise PerfgateError(f"{page}: cannot write the trend page: {exc.strerror or exc}") from exc
    out.print(f"trend page: {page}", markup=False)
    return Outcome.OK


def _check_names(args: argparse.Namespace, series: list[Series], every: Callable[[], list[Series]]) -> None:
    """Each ``--name`` must be a request name of the stored rounds (``/login``, not ``login``)."""
    shown = {s.name for s in series}
    if all(name in shown for name in args.name):
        return
    seen = {s.name for s in every()}
    if seen:  # no stored rounds at all: nothing to compare the names with
        check_metric_names(
            [f"{name}.{args.metric[0] if args.metric else 'p50'}" for name in args.name], seen, where="--name"
        )


def _table(s: Series, commits: int) -> Table:
    changed = {c.position for c in s.changes}
    table = Table(title=f"{s.scenario} · {s.name} · {s.metric}", title_justify="left")
    for column in ("commit", "subject", "rounds", s.metric, "band", "gate", "change"):
        table.add_column(column, justify="right" if column in ("rounds", s.metric, "band") else "left")
    for p in s.points:
        mark = "◀ level shift" if p.position in changed else ""
        table.add_row(
            p.revision.sha[:10],
            p.revision.subject[:48],
            str(len(p.values)),
            value_text(p.centre, s.metric),
            f"{value_text(p.low, s.metric)} – {value_text(p.high, s.metric)}",
            p.step or "—",
            mark,
            style="bold red" if mark else None,
        )
    missing = commits - len(s.points)
    if missing:
        table.caption = f"{missing} of {commits} commits have no stored rounds"
    return table


def _print_changes(out: Console, series: list[Series]) -> None:
    changes = [(s, c) for s in series for c in s.changes]
    if not changes:
        out.print("change points: none", markup=False)
        return
    out.print("change points (first commit of the new level):", markup=False)
    for s, c in changes:
        out.print(
            f"  {request_label(s.scenario, s.name)} {s.metric}: {c.revision.sha[:10]} “{c.revision.subject}” "
            f"{value_text(c.before, s.metric)} → {value_text(c.after, s.metric)} ({percent(c.ratio)})",
            markup=False,
        )


def _reports(store: LocalStore, series: list[Series], report_dir: Path) -> dict[str, Path]:
    """The gate reports the points link to, in the report folder; the ones not there yet (gates
    run by backfill, bisect or a hook write none) are rendered from the store now."""
    from perfgate.report import write_reports

    runs = sorted({p.run_id for s in series for p in s.points if p.run_id})
    for run in runs:
        if not (report_dir / f"{run}.html").is_file():
            try:
                write_reports(store, run, report_dir)
            except PerfgateError:  # a run without a verdict has no report: its point gets no link
                continue
    return {run: report_dir / f"{run}.html" for run in runs if (report_dir / f"{run}.html").is_file()}
