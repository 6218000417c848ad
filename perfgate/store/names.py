"""The one rule for ids and names that a store turns into file names, paths or keys.

Run ids, round indices, sides, shas, config hashes and machine fingerprints come back
from a store (a SQLite row, an S3 key, a JSON file someone else wrote) and become local
paths and S3 keys. Each one is checked here before use, so a hostile or broken store
cannot make perfgate read or write outside it (``../``, ``/``, ``\\``, NUL, dot files).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from perfgate.errors import StoreError

#: Letters, digits, ``_ . -``; starts with a letter or digit (so never ``.``, ``..`` or a dot
#: file); at most 128 characters. Run ids, shas, hashes and fingerprints all fit it.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
SIDES = ("baseline", "candidate")
_ROUND_FILE = re.compile(r"([0-9]{3,9})(\.json|\.samples\.parquet|\.resources\.parquet)")


def check_name(value: object, what: str, where: str) -> str:
    """``value`` if it is a safe store name, else a StoreError naming ``where`` (a key or file)."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise StoreError(
            f"{where}: invalid {what} {str(value)[:80]!r} (allowed: letters, digits, '_', '.', '-'; "
            "not starting with '.')"
        )
    return value


def check_side(value: object, where: str) -> str:
    if value not in SIDES:
        raise StoreError(f"{where}: invalid side {str(value)[:80]!r} (baseline or candidate)")
    return str(value)


def check_index(value: object, where: str) -> int:
    """A round index: a non-negative integer, or its decimal digits."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise StoreError(f"{where}: invalid round index {str(value)[:80]!r}")
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,9}", value):
        raise StoreError(f"{where}: invalid round index {value[:80]!r}")
    index = int(value)
    if not 0 <= index < 10**9:
        raise StoreError(f"{where}: invalid round index {index}")
    return index


def round_stem(index: int) -> str:
    """A round's file stem: ``007``, ``999``, ``1000``: at least three digits, any index."""
    return f"{check_index(index, 'round'):03d}"


def round_file(name: str) -> tuple[int, str] | None:
    """``("007.json")`` → (7, ".json"); None for any other file name."""
    match = _ROUND_FILE.fullmatch(name)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


def key_part(value: str) -> str:
    """One segment of an S3 key built from free text (a scenario name): percent-encoded, dots
    included, so it is never ``.`` or ``..`` and never holds a ``/``; ``-`` when empty."""
    return quote(value, safe="").replace(".", "%2E") or "-"


def resolve_run(run: str, runs: Sequence[str], where: str) -> str:
    """``run`` as a run id of ``runs`` (oldest first): itself, the one id it is a prefix of, or
    the newest for ``latest``; errors name the store ``where``."""
    if run == "latest" and runs:
        return runs[-1]
    matches = [r for r in runs if r.startswith(run)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise StoreError(f"run {run!r}: not in the store {where}")
    raise StoreError(f"run {run!r}: ambiguous in {where} ({', '.join(matches[:3])}, ...)")
