"""Typed reads from raw TOML tables, every failure one line naming the file and the key."""

from __future__ import annotations

import math
import string
from collections.abc import Sequence, Set
from pathlib import Path
from typing import Any

from perfgate.errors import ConfigError
from perfgate.units import seconds


class Validator:
    """Typed reads from raw TOML tables; every failure names the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def error(self, section: str, key: str, message: str) -> ConfigError:
        where = f"[{section}] {key}" if section else key
        return ConfigError(f"{self.path}: {where}: {message}")

    def known(self, raw: Any, section: str, keys: set[str]) -> None:
        if not isinstance(raw, dict):
            raise self.error("", section, "must be a table")
        for key in raw:
            if key not in keys:
                raise self.error(section, key, f"unknown key (known: {', '.join(sorted(keys))})")

    def string(self, raw: dict[str, Any], section: str, key: str, default: str) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.error(section, key, "must be a non-empty string")
        return value

    def choice(self, raw: dict[str, Any], section: str, key: str, default: str, allowed: Sequence[str]) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str) or value not in allowed:
            raise self.error(section, key, f"must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def duration(self, raw: dict[str, Any], section: str, key: str, default: float, *, low: float = 0.0) -> float:
        """Seconds, written as a number or as Locust writes them ("250ms", "10s", "2m", "1h30m")."""
        value = raw.get(key, default)
        if not isinstance(value, str):
            return self.number(raw, section, key, default, low=low)
        parsed = seconds(value)
        if parsed is None:
            raise self.error(section, key, f'must be a duration such as 10, "10s" or "2m", not {value!r}')
        if parsed < low:
            raise self.error(section, key, f"must be at least {low:g} s, not {value!r}")
        return parsed

    def number(
        self,
        raw: dict[str, Any],
        section: str,
        key: str,
        default: float,
        *,
        low: float | None = None,
        high: float | None = None,
        integer: bool = False,
    ) -> float:
        value = raw.get(key, default)
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise self.error(section, key, f"must be {'an integer' if integer else 'a number'}, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(section, key, f"must be a finite number, not {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise self.error(section, key, f"must be {bounds}, not {value!r}")
        return value

    def flag(self, raw: dict[str, Any], section: str, key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise self.error(section, key, f"must be true or false, not {value!r}")
        return value

    def command(self, section: str, command: str, allowed: Set[str], key: str = "command") -> None:
        """A command whose ``{placeholders}`` are all in ``allowed``."""
        try:
            used = {name for _, name, _, _ in string.Formatter().parse(command) if name is not None}
        except ValueError as exc:
            raise self.error(section, key, f"bad placeholder syntax: {exc}") from exc
        unknown = used - allowed
        if unknown:
            names = ", ".join(f"{{{p}}}" for p in sorted(allowed))
            raise self.error(section, key, f"unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {names})")
