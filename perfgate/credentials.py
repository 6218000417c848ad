"""Test accounts for the virtual users: a CSV or TOML file that perfgate reads and never writes.

    username,password,region          # CSV, with a header; more columns are passed on
    alice,s3cret,eu

    [[account]]                        # TOML
    username = "alice"
    password = "s3cret"

``[load] credentials = "accounts.csv"`` hands them to the Locust users: before a user class's own
``__init__`` runs, the k-th user of a round (the same k on every side) gets account k, round
robin, as ``self.perfgate_account`` (a dict: ``username``, ``password`` and the other columns).
The contents stay in the load process; the store, the manifest and the reports never hold them
(the ``credentials`` key itself reads ``<redacted>`` there, as every secret-looking key does).
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path
from typing import Any

from perfgate.errors import ConfigError

REQUIRED = ("username", "password")


def read_accounts(path: Path) -> tuple[dict[str, str], ...]:
    """The accounts in ``path``; anything wrong with it is one ConfigError naming the file (never a value)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"credentials {path}: cannot be read ({type(exc).__name__})") from None
    rows = _toml_rows(path, text) if path.suffix == ".toml" else _csv_rows(path, text)
    if not rows:
        raise ConfigError(f"credentials {path}: no accounts")
    for number, row in enumerate(rows, 1):
        missing = [key for key in REQUIRED if not isinstance(row.get(key), str) or not row[key]]
        if missing:
            raise ConfigError(f"credentials {path}: account {number} has no {missing[0]}")
    return tuple({str(k): str(v) for k, v in row.items()} for row in rows)


def _csv_rows(path: Path, text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(text.splitlines())
    missing = [key for key in REQUIRED if key not in (reader.fieldnames or ())]
    if missing:
        raise ConfigError(f"credentials {path}: the header has no {missing[0]!r} column")
    return [dict(row) for row in reader]


def _toml_rows(path: Path, text: str) -> list[dict[str, Any]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"credentials {path}: not TOML ({exc})") from None
    rows = data.get("account", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ConfigError(f"credentials {path}: accounts go in [[account]] tables")
    return rows
