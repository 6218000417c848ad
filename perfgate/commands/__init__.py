"""One module per command (as in asv). Each module defines:

- ``add_arguments(parser)``;
- ``run(args, console) -> Outcome`` (:mod:`perfgate.outcome`), raising
  :class:`perfgate.errors.PerfgateError` on failure.

Each command's work is also callable as a plain function from its module.
Register a new command by adding its module name and one-line help to ``COMMANDS``.
The CLI imports only the module of the command it runs, so ``perfgate hook``,
``init`` or ``--help`` do not pay for pandas, scipy and matplotlib.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import NoReturn

from perfgate import __version__
from perfgate.errors import ConfigError

COMMANDS: dict[str, str] = {
    "run": "time the baseline and the candidate revisions under load and give a verdict",
    "nodes": "compare every node of one running deployment with the others and name the outlier (by URL)",
    "demo": "run a whole gate on a scratch repo of the reference IM service with a login regression",
    "init": "write a commented perfgate.toml to start from",
    "compare": "judge stored runs again without re-measuring",
    "runs": "list the stored runs, newest first (run id, created, kind, state, both commits)",
    "export": "write a stored run's samples and round metrics as CSV or Parquet",
    "report": "render the HTML report (and markdown, JUnit, JSON) of a stored run again",
    "proxy": "run the fault proxy with a Toxiproxy-compatible HTTP API",
    "infra": "plan, start, inspect, stop and garbage-collect an EC2 cluster for distributed gates",
    "hook": "install or uninstall git hooks that time commits (post-commit: background; pre-push: can block)",
    "backfill": "measure every commit of REV_RANGE against its parent, skipping commits already stored",
    "history": "per-commit series of each metric with a confidence band, change points, and an HTML trend page",
    "bisect": "find the first commit between GOOD and BAD that regresses, judged like a gate at each step",
    "flaky": "flip rate, round noise and clustering per metric; which metrics are too noisy to gate at the budget",
    "ci": "run the gate in CI: baseline = merge-base with the target branch; HTML, markdown, JUnit, JSON to --out",
    "comment": "keep one pull-request comment per workflow and config, updated in place (GitHub Actions)",
    "completion": "print a shell completion script: perfgate completion bash|zsh|tcsh",
    "gc": "clean up after killed gates: their processes, worktrees, scratch folders and runs left 'running'",
}


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage, which would read as "inconclusive": raise instead."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("perfgate").strip()  # main() prints the "perfgate: error:" prefix
        raise ConfigError(f"{where}: {message}" if where else message)


def build_parser(argv: Sequence[str] = (), *, every_command: bool = False) -> argparse.ArgumentParser:
    """The parser; only the command named in ``argv`` is imported and given its arguments
    (``every_command``: all of them, for shell completion)."""
    parser = _Parser(prog="perfgate", description="A performance-regression gate for networked services.")
    parser.add_argument("--version", action="version", version=f"perfgate {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an error, print the traceback too (may come anywhere on the command line)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, help_text in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen or every_command:
            module = importlib.import_module(f"perfgate.commands.{name}")
            module.add_arguments(command)
            command.set_defaults(_module=module)
    return parser
