"""A small TOML writer for tests: nested dicts become tables, everything inside a list is inline.

Floats keep TOML's ``nan``, ``inf`` and ``-inf``; strings and keys are basic strings with
quotes, backslashes and control characters escaped (everything else as it is).
"""

from __future__ import annotations

import math
from typing import Any


def string(text: str) -> str:
    escaped = "".join(
        f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else "\\" + c if c in '"\\' else c for c in text
    )
    return f'"{escaped}"'


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return string(v)
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{string(k)} = {value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {type(v).__name__}")


def dumps(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """``doc`` as a TOML document (sub-dicts of a table become [dotted.tables])."""
    lines = [f"{string(k)} = {value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    out = ""
    if prefix and (lines or not any(isinstance(v, dict) for v in doc.values())):
        out += "[" + ".".join(string(p) for p in prefix) + "]\n"
    out += "".join(line + "\n" for line in lines)
    for k, v in doc.items():
        if isinstance(v, dict):
            out += dumps(v, (*prefix, k))
    return out
