"""How a command ends. Commands and hooks return an :class:`Outcome`; only
:func:`perfgate.cli.main` turns it into the process's exit code, by :data:`EXIT_CODES`."""

from __future__ import annotations

import enum

from perfgate.model import State


class Outcome(enum.StrEnum):
    OK = "ok"  # done, or the gate passed
    REGRESSION = "regression"  # a regression, or an inconclusive verdict under a "fail" policy
    INCONCLUSIVE = "inconclusive"  # not decided, under the "warn" policy


def gate_outcome(state: State, inconclusive_policy: str = "warn") -> Outcome:
    """A verdict's outcome; ``inconclusive_policy`` ("warn", "fail" or "pass") decides an
    inconclusive one, as ``[judge] inconclusive`` and ``--inconclusive`` set it."""
    if state is State.REGRESSION:
        return Outcome.REGRESSION
    if state is State.INCONCLUSIVE:
        return {"fail": Outcome.REGRESSION, "pass": Outcome.OK}.get(inconclusive_policy, Outcome.INCONCLUSIVE)
    return Outcome.OK


#: The documented exit codes: 0 pass, 1 regression, 2 inconclusive, 3 error, 130 interrupted.
EXIT_PASS, EXIT_REGRESSION, EXIT_INCONCLUSIVE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES = {Outcome.OK: EXIT_PASS, Outcome.REGRESSION: EXIT_REGRESSION, Outcome.INCONCLUSIVE: EXIT_INCONCLUSIVE}
