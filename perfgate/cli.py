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
from collections.abc import Sequence

from rich.console import Console

from perfgate import __version__
from perfgate.commands import COMMANDS
from perfgate.errors import ConfigError, PerfgateError
from perfgate.procs import on_signal, reap_all
from perfgate.model import State

EXIT_PASS, EXIT_REGRESSION, EXIT_INCONCLUSIVE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def exit_code(state: State, inconclusive_policy: str = "warn") -> int:
    """Map a verdict to the documented exit code; ``--inconclusive`` picks the CI policy."""
    if state is State.REGRESSION:
        return EXIT_REGRESSION
    if state is State.INCONCLUSIVE:
        return {"fail": EXIT_REGRESSION, "pass": EXIT_PASS}.get(inconclusive_policy, EXIT_INCONCLUSIVE)
    return EXIT_PASS


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage, which would read as "inconclusive": raise instead."""

    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the command named in ``argv`` is imported and given its arguments."""
    parser = _Parser(prog="perfgate", description="A performance-regression gate for networked services.")
    parser.add_argument("--version", action="version", version=f"perfgate {__version__}")
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
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if getattr(args, "_module", None) is None:
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        return args._module.run(args, console)
    except KeyboardInterrupt:
        console.print("perfgate: interrupted; everything it started has been stopped", style="yellow")
        return EXIT_INTERRUPTED
    except PerfgateError as exc:
        message = " ".join(str(exc).split())
        console.print(f"perfgate: error: {message}", style="red", markup=False, highlight=False, soft_wrap=True)
        return EXIT_ERROR
    finally:
        reap_all()  # a child an interrupted caller never got hold of


if __name__ == "__main__":
    sys.exit(main())
