"""The command line: parse arguments, call a command, map outcomes to exit codes.

This is the only place that turns exceptions and verdicts into exit codes:
0 pass, 1 regression, 2 inconclusive, 3 error (one line, no traceback),
130 interrupted (after cleanup).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from rich.console import Console

from perfgate import __version__
from perfgate.commands import COMMANDS
from perfgate.errors import ConfigError, PerfgateError, os_error_line
from perfgate.extras import missing_extra_line
from perfgate.model import State
from perfgate.outcome import (
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    EXIT_PASS,
    EXIT_REGRESSION,
    Outcome,
    gate_outcome,
)
from perfgate.procs import on_signal, reap_all

__all__ = ["EXIT_ERROR", "EXIT_INCONCLUSIVE", "EXIT_INTERRUPTED", "EXIT_PASS", "EXIT_REGRESSION", "exit_code", "main"]


def exit_code(state: State, inconclusive_policy: str = "warn") -> int:
    """A verdict's documented exit code; ``--inconclusive`` picks the CI policy."""
    return EXIT_CODES[gate_outcome(state, inconclusive_policy)]


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage, which would read as "inconclusive": raise instead."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("perfgate").strip()  # main() prints the "perfgate: error:" prefix
        raise ConfigError(f"{where}: {message}" if where else message)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the command named in ``argv`` is imported and given its arguments."""
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
        if name == chosen:
            module = importlib.import_module(f"perfgate.commands.{name}")
            module.add_arguments(command)
            command.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    console = Console(stderr=True, highlight=False)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [arg for arg in argv if arg != "--debug"]
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if getattr(args, "_module", None) is None:
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        outcome: Outcome = args._module.run(args, console)  # each command module returns its outcome
        return EXIT_CODES[outcome]
    except KeyboardInterrupt:
        console.print("perfgate: interrupted; everything it started has been stopped", style="yellow")
        return EXIT_INTERRUPTED
    except PerfgateError as exc:
        return _error(console, str(exc), debug)
    except ModuleNotFoundError as exc:  # an optional part whose extra is not installed, or a bug
        return _error(console, missing_extra_line(exc) or _internal(exc), debug)
    except OSError as exc:  # disk full, a read-only folder: name the path, never claim a regression
        return _error(console, os_error_line(exc), debug)
    except Exception as exc:  # a bug: exit 1 would read as "regression" and block a pre-push
        return _error(console, _internal(exc), debug)
    finally:
        reap_all()  # a child an interrupted caller never got hold of


def _internal(exc: Exception) -> str:
    return f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"


def _error(console: Console, message: str, debug: bool) -> int:
    """One line on stderr (the traceback first with ``--debug``); the exit code of an error."""
    if debug:
        traceback.print_exc(file=sys.stderr)
    message = " ".join(message.split())
    console.print(f"perfgate: error: {message}", style="red", markup=False, highlight=False, soft_wrap=True)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
