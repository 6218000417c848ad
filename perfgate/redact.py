"""The one rule for values that must not reach a manifest or a report: secrets.

``[target] env`` (and a scenario's ``env``) often carry tokens and passwords the
target needs. The manifest keeps the configuration for the record, and the reports
show it, so every mapping in it goes through :func:`redact` first: a value whose key
looks like a secret is replaced by :data:`REDACTED`, and a password inside a URL
(``scheme://user:password@host``) is masked wherever it appears.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "<redacted>"
#: Anywhere in a key (case-insensitive): unlikely to mean anything else.
_SECRET_PARTS = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "COOKIE",
    "APIKEY",
    "ACCESSKEY",
    "PRIVATEKEY",
    "SECRETKEY",
    "AUTHKEY",
    "SIGNINGKEY",
)
#: Whole words of a key (split at ``_``, ``-``, ``.``, spaces and camelCase): short words that
#: are also parts of ordinary ones (``KEY`` in ``monkey``, ``AUTH`` in ``author``).
_SECRET_WORDS = frozenset(
    {
        "KEY",
        "AUTH",
        "AUTHORIZATION",
        "SESSION",
        "PRIVATE",
        "PWD",
        "PASS",
        "DSN",
        "SIG",
        "SIGNATURE",
        "CERT",
        "JWT",
        "BEARER",
        "OTP",
    }
)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:)[^@\s/]+(?=@)")


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if w]


def is_secret_key(key: str) -> bool:
    """Does a key (an environment variable's name, a config key) look like it holds a secret?"""
    flat = re.sub(r"[^A-Za-z0-9]", "", key).upper()
    return any(part in flat for part in _SECRET_PARTS) or any(w in _SECRET_WORDS for w in _words(key))


def redact(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, scalars) with secret-looking keys' values and URL
    passwords replaced by ``<redacted>``."""
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_key(k) and value[k] not in ("", None) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, value)
    return value
