"""The one way a value goes into a shell command: quoted.

Commands from the config (``[target] command``) run with ``shell=True``, so every
value perfgate substitutes into one (paths, ports, the interpreter, database
arguments) passes through :func:`quote_value` first. A repository at
``my repo $(touch PWNED)`` is then one argument, never a command substitution.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from os import PathLike

#: A single value (one shell word), or a sequence of them (several words, each quoted).
Placeholder = str | int | float | PathLike[str] | Sequence[str]


def quote_value(value: Placeholder) -> str:
    """One shell word for a value; a list or tuple becomes several words, each quoted."""
    if isinstance(value, (list, tuple)):
        return shlex.join(str(v) for v in value)
    return shlex.quote(str(value))


def format_command(template: str, values: Mapping[str, Placeholder]) -> str:
    """``template`` with ``{name}`` placeholders replaced by quoted values; KeyError for an unknown one."""
    return template.format_map({name: quote_value(value) for name, value in values.items()})
