"""One module per command (as in asv). Each module defines:

- ``NAME`` and ``HELP``;
- ``add_arguments(parser)``;
- ``run(args, console) -> int``, returning an exit code and raising
  :class:`perfgate.errors.PerfgateError` on failure.

Each command's work is also callable as a plain function from its module.
Register a new command by adding its module name to ``COMMANDS``.
"""

COMMANDS = (
    "run",
    "demo",
    "init",
    "compare",
    "report",
    "proxy",
    "infra",
    "hook",
    "backfill",
    "history",
    "bisect",
    "flaky",
    "ci",
)
