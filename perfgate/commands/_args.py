"""Checks of numeric command-line options, shared by every command (light: no heavy imports).

argparse's ``type=float`` takes ``nan``, ``inf`` and ``-1`` alike; each command checks its
numbers here before it starts anything, so a bad value is one line and exit 3, never a
silent acceptance or a crash after rounds were measured.
"""

from __future__ import annotations

import math

from perfgate.errors import ConfigError
from perfgate.limits import MARGIN_HIGH, MARGIN_LOW, MAX_ROUNDS_HIGH, ROUNDS_HIGH, ROUNDS_LOW

__all__ = ["MARGIN_HIGH", "MARGIN_LOW", "MAX_ROUNDS_HIGH", "ROUNDS_HIGH", "ROUNDS_LOW", "check_option"]


def check_option(flag: str, value: float | None, *, low: float, high: float | None = None) -> None:
    """``value`` (None: not given) must be finite and within [low, high]; one line naming ``flag`` if not."""
    if value is None:
        return
    finite = not isinstance(value, float) or math.isfinite(value)
    if not finite or value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(f"{flag}: must be a number {bounds}, not {value}")
