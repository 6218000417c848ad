"""Durations as people write them, in perfgate.toml and fault plans: a number of seconds, or
Locust's forms: ``"250ms"``, ``"10s"``, ``"2m"``, ``"1h30m"``, ``"1.5m"``."""

from __future__ import annotations

import math
import re

_UNIT_S = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]*\.?[0-9]+)\s*(ms|h|m|s)")
_WHOLE = re.compile(r"\s*(?:[0-9]*\.?[0-9]+\s*(?:ms|h|m|s)\s*)+")


def seconds(value: object) -> float | None:
    """``value`` in seconds, or None when it is not a finite, non-negative duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or isinstance(value, str) and re.fullmatch(r"\s*[0-9]*\.?[0-9]+\s*", value):
        result = float(value)
    elif isinstance(value, str) and _WHOLE.fullmatch(value):
        result = sum(float(n) * _UNIT_S[unit] for n, unit in _PART.findall(value))
    else:
        return None
    return result if math.isfinite(result) and result >= 0 else None
