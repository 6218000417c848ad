"""The command line: parse arguments, call a command, map outcomes to exit codes.

This is the only place that turns exceptions and verdicts into exit codes:
0 pass, 1 regression, 2 inconclusive, 3 error (one line, no traceback),
130 interrupted (after cleanup).
"""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Sequence

from rich.console import Console

from perfgate.commands import build_parser
from perfgate.errors import PerfgateError, os_error_line
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
