"""Pieces shared by the gate-running commands: arguments, progress, the summary table."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import git
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from perfgate import gitops
from perfgate.commands._args import MARGIN_HIGH, MARGIN_LOW, MAX_ROUNDS_HIGH, ROUNDS_HIGH, ROUNDS_LOW, check_option
from perfgate.config import Config, find_config, load_config
from perfgate.errors import ConfigError, PerfgateError, os_error_line
from perfgate.formatting import change_with_ci, note_text, request_label, value_text, verdict_text
from perfgate.model import Design, RoundRecord, RoundSpec, State, Verdict
from perfgate.progress import Progress as GateProgress
from perfgate.store import is_remote

if TYPE_CHECKING:
    from perfgate.gate import GateOptions, GateResult
    from perfgate.report import ReportPaths

STYLE = {
    State.REGRESSION: "bold red",
    State.INCONCLUSIVE: "yellow",
    State.PASS: "green",
    State.IMPROVEMENT: "bold green",
}


@dataclass(frozen=True)
class Project:
    """What a command works on: the repository named by ``--repo``, its root, its config."""

    repo: git.Repo
    root: Path
    config: Config


def open_project(args: argparse.Namespace) -> Project:
    """``--repo`` (default ".") and ``--config`` (default: the root's perfgate.toml or
    pyproject.toml), as every command that gates or reads a repository's runs takes them."""
    repo = gitops.open_repo(args.repo)
    root = gitops.repo_root(repo)
    return Project(repo, root, load_config(args.config, directory=root))


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    actions = [
        parser.add_argument("--config", type=Path, help="perfgate.toml or pyproject.toml (default: search the repo)"),
        parser.add_argument("--design", choices=[d.value for d in Design], help="override [rounds] design"),
        parser.add_argument("--rounds", type=int, help="planned pairs of rounds (override [rounds] count)"),
        parser.add_argument(
            "--max-rounds",
            type=int,
            help="budget in pairs of rounds, confirmation pairs included (override [rounds] max)",
        ),
        parser.add_argument("--margin", type=float, help="practical margin, e.g. 0.05 for 5%%"),
        parser.add_argument("--scenario", action="append", default=[], help="run only this scenario (repeatable)"),
        parser.add_argument("--seed", type=int, help="seed for the round order"),
        parser.add_argument(
            "--no-reuse",
            action="store_true",
            help="measure every pair afresh, even if earlier runs of this comparison are stored",
        ),
        parser.add_argument("--workers", type=int, help="Locust worker processes per round (0: in-process)"),
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="if another gate is measuring on this machine, fail at once (exit 3) instead of waiting",
        ),
        parser.add_argument("--out", type=Path, help="folder for the HTML report (default: [report] dir)"),
        parser.add_argument("--json", type=Path, dest="json_path", help="write the verdict as JSON"),
        parser.add_argument("--markdown", type=Path, help="write a markdown summary for a PR comment"),
        parser.add_argument("--junit", type=Path, help="write JUnit XML, one test case per metric"),
        parser.add_argument(
            "--inconclusive",
            choices=["fail", "pass", "warn"],
            help="exit code for an inconclusive verdict: 1, 0, or 2 (warn)",
        ),
        parser.add_argument("--quiet", action="store_true", help="no progress: only the verdict, warnings and errors"),
    ]
    environment_defaults(parser, [a for a in actions if a.dest in ENV_OPTIONS])


#: Options that ``PERFGATE_<OPTION>`` sets when the command line does not (PERFGATE_ROUNDS=8).
ENV_OPTIONS = ("config", "design", "rounds", "max_rounds", "margin", "seed", "workers", "inconclusive", "out")


def environment_defaults(parser: argparse.ArgumentParser, actions: list[argparse.Action]) -> None:
    """Defaults from ``PERFGATE_<DEST>`` for ``actions`` (as ``add_argument`` returned them); a flag
    on the command line still wins. A bad value is one line naming the variable."""
    for action in actions:
        name = f"PERFGATE_{action.dest.upper()}"
        if name not in os.environ:
            continue
        raw = os.environ[name]
        try:
            value = action.type(raw) if callable(action.type) else raw
        except (TypeError, ValueError):
            raise ConfigError(f"${name}: {raw!r} is not a valid {action.option_strings[0]}") from None
        if action.choices is not None and value not in action.choices:
            raise ConfigError(f"${name}: {raw!r} is not one of {', '.join(map(str, action.choices))}")
        parser.set_defaults(**{action.dest: value})


def check_gate_arguments(args: argparse.Namespace) -> None:
    """The numbers of :func:`add_gate_arguments`; commands call this before they start anything."""
    check_option("--workers", args.workers, low=0, high=64)
    check_option("--rounds", args.rounds, low=ROUNDS_LOW, high=ROUNDS_HIGH)
    check_option("--max-rounds", args.max_rounds, low=ROUNDS_LOW, high=MAX_ROUNDS_HIGH)
    check_option("--margin", args.margin, low=MARGIN_LOW, high=MARGIN_HIGH)


def gate_options(args: argparse.Namespace, baseline: str, candidate: str) -> GateOptions:
    from perfgate.gate import GateOptions  # the gate's imports (scipy, pandas) only for the commands that run one

    check_gate_arguments(args)
    return GateOptions(
        baseline=baseline,
        candidate=candidate,
        design=Design(args.design) if args.design else None,
        rounds=args.rounds,
        max_rounds=args.max_rounds,
        margin=args.margin,
        scenarios=tuple(args.scenario),
        seed=args.seed,
        workers=args.workers,
        reuse=not args.no_reuse,
        wait=not args.no_wait,
        command=shlex.join(["perfgate", *sys.argv[1:]]),
    )


@dataclass(frozen=True)
class ReportRequest:
    """Where a command's reports go: the HTML folder (None: ``report_dir`` of the config), and
    the markdown, JUnit and JSON files asked for."""

    out_dir: Path | None = None
    markdown: Path | None = None
    junit: Path | None = None
    json_path: Path | None = None


def report_request(args: argparse.Namespace, defaults: ReportRequest = ReportRequest()) -> ReportRequest:
    """``--out``, ``--markdown``, ``--junit`` and ``--json``, each given one over ``defaults``."""
    return ReportRequest(
        out_dir=args.out or defaults.out_dir,
        markdown=args.markdown or defaults.markdown,
        junit=args.junit or defaults.junit,
        json_path=args.json_path or defaults.json_path,
    )


@dataclass(frozen=True)
class Published:
    """What :func:`publish` wrote; ``error`` is a warning line when it could not write them."""

    reports: ReportPaths
    error: str = ""


def publish(result: GateResult, config: Config, request: ReportRequest = ReportRequest()) -> Published:
    """Write a gate's reports (HTML, and the markdown, JUnit and JSON asked for) from the store.

    A failure to write them is a warning, never the verdict: a regression must not turn
    into an error, which a pre-push hook lets through. ``perfgate report RUN`` retries.
    """
    from perfgate.report import ReportPaths, write_reports  # matplotlib: imported only once there is a verdict
    from perfgate.store import open_store

    out_dir = request.out_dir or (config.root / config.report_dir)
    try:
        reports = write_reports(
            open_store(config.store, config.root),
            result.run_id,
            out_dir,
            markdown=request.markdown,
            junit=request.junit,
            json_path=request.json_path,
        )
    except Exception as exc:  # the verdict is stored; `perfgate report` can write them again
        what = (
            os_error_line(exc)
            if isinstance(exc, OSError)
            else str(exc)
            if isinstance(exc, PerfgateError)
            else f"{type(exc).__name__}: {exc}"
        )
        return Published(
            ReportPaths(),
            f"reports not written ({' '.join(what.split())}); retry with: perfgate report {result.run_id}",
        )
    return Published(reports)


class RichProgress(GateProgress):
    """Progress of the rounds: a bar on a terminal; without one (a CI log), one line per round
    with its scenario, pair, side order, requests, elapsed time and ETA, on standard output
    (``log``), so that standard error keeps only warnings and the one-line error."""

    def __init__(self, console: Console, log: Console | None = None, *, quiet: bool = False):
        self.console = console
        self.log = log or Console(highlight=False, quiet=quiet)
        self.lines = not console.is_terminal or quiet
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=self.lines or quiet,
        )
        self.task: TaskID | None = None  # set by planned(), which the gate calls before any round
        self.started = time.monotonic()
        self.done = self.total = 0

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def planned(self, total_rounds: int) -> None:
        self.total = total_rounds
        self.task = self.bar.add_task("rounds", total=total_rounds)

    def round_started(self, spec: RoundSpec) -> None:
        sides = " + ".join(s.value for s in spec.sides)
        kind = "confirmation round" if spec.confirmation else "round"
        self.bar.update(self._planned(), description=f"{spec.scenario}: {kind} {spec.index} ({sides})")

    def round_finished(self, record: RoundRecord, requests: int = 0) -> None:
        if record.confirmation:
            self.total += 1
            self.bar.update(self._planned(), total=self.total)
        self.done += 1
        self.bar.advance(self._planned())
        if self.lines:
            self.log.print(self.round_line(record, requests), markup=False, highlight=False, soft_wrap=True)
        if not record.valid:
            self.console.print(f"  round {record.index} invalid: {record.invalid_reason}", style="yellow")

    def round_line(self, record: RoundRecord, requests: int) -> str:
        elapsed = time.monotonic() - self.started
        left = max(self.total - self.done, 0)
        eta = elapsed / self.done * left if self.done else 0.0
        kind = "confirmation " if record.confirmation else ""
        return (
            f"{kind}round {self.done}/{self.total} · {record.scenario} pair {record.pair} · "
            f"{'+'.join(s.value for s in record.sides)} · {requests:,} requests · "
            f"{_minutes(elapsed)} · ETA {_minutes(eta)}"  # m:ss
        )

    def message(self, text: str) -> None:
        self.log.print(f"  {text}", markup=False, highlight=False, soft_wrap=True)

    def _planned(self) -> TaskID:
        assert self.task is not None, "the gate calls planned() before any round"
        return self.task


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def print_verdict(console: Console, verdict: Verdict, report: Path | None = None) -> None:
    """A compact table (fits 80 columns): regressions first, as the judge sorts them."""
    many_scenarios = len({m.scenario for m in verdict.metrics}) > 1
    table = Table(title=f"{verdict.baseline.short} → {verdict.candidate.short}", box=None, pad_edge=False)
    for column in ("name", "metric", "baseline", "candidate", "change [CI]", "verdict"):
        table.add_column(column, justify="right" if column in ("baseline", "candidate") else "left", overflow="fold")
    for m in verdict.metrics:
        name = request_label(m.scenario, m.name) if many_scenarios else m.name
        change = change_with_ci(m)
        table.add_row(
            name,
            m.metric,
            value_text(m.baseline, m.metric),
            value_text(m.candidate, m.metric),
            change,
            f"[{STYLE[m.verdict]}]{m.verdict.value}[/]",
        )
    console.print(table)
    console.print(f"[{STYLE[verdict.state]}]{verdict.state.value.upper()}[/]: ", end="")
    console.print(verdict_text(verdict), markup=False, highlight=False)
    for note in verdict.notes:
        console.print(f"  note: {note_text(note)}", markup=False, highlight=False, style="dim")
    if report is not None:
        console.print(f"report: {report}", markup=False)


def store_and_reports(args: argparse.Namespace) -> tuple[Path | str, Path]:
    """``--store`` and ``--out`` (commands that read stored runs): the arguments first, then the
    config here (``--config``, or the one found in the working directory), then the defaults."""
    store, out = args.store, getattr(args, "out", None)
    if store is None or out is None:
        config = None
        if args.config is not None:
            config = load_config(args.config)
        else:
            try:
                find_config(Path.cwd())
            except ConfigError:
                pass  # no config here: built-in defaults
            else:
                config = load_config(directory=Path.cwd())
        if store is None:
            store = (
                (config.store if is_remote(config.store) else config.root / config.store)
                if config
                else Path(".perfgate")
            )
        if out is None:
            out = (config.root / config.report_dir) if config else Path("reports")
    return store, out
