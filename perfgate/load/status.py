"""The status file a load process writes when it ends, and the one rule for its failures."""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

from perfgate.codec import load_status_from_dict, load_status_to_dict
from perfgate.errors import LoadError, StoreError
from perfgate.model import LoadStatus


def write_status(path: Path, status: LoadStatus) -> None:
    """Write atomically: a reader sees the whole status or none."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(load_status_to_dict(status)))
    os.replace(tmp, path)


def read_status(path: Path) -> LoadStatus | None:
    """The status at ``path``; None while there is none (the process has not finished)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return load_status_from_dict(data, str(path))
    except StoreError as exc:
        raise LoadError(str(exc)) from exc


def crashed(exc: BaseException) -> LoadStatus:
    """The status of a load process that raised ``exc``: its words and its traceback."""
    trace = "".join(traceback.format_exception(exc))
    return LoadStatus(ok=False, kind="crash", error=f"{type(exc).__name__}: {exc}", traceback=trace)


def failure(status: LoadStatus, locustfile: str, what: str) -> LoadError:
    """The error for a failed status: a locustfile's own problem names the file; anything
    else is ``what`` (e.g. "load generator crashed") with the process's own words."""
    if status.kind == "locustfile":
        return LoadError(f"{locustfile}: {status.error}")
    return LoadError(f"{what}: {status.error or 'unknown error'}")
