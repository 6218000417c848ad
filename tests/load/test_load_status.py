"""The load process's status file: one typed contract for the local, distributed and cluster paths."""

import json
from pathlib import Path

import pytest

from perfgate.errors import LoadError
from perfgate.load.status import failure, read_status, write_status
from perfgate.load.worker import LocustfileError, failed
from perfgate.model import LoadStatus


def test_a_status_round_trips_and_a_missing_one_is_none(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    assert read_status(path) is None
    status = LoadStatus(ok=True, started_ns=1, ended_ns=3, loop_lag_ms_p50=0.2, clock_offsets_ns={"0": -5})
    write_status(path, status)
    assert read_status(path) == status
    assert not path.with_suffix(".tmp").exists()
    path.write_text("{not json")
    assert read_status(path) is None  # half written: not there yet


def test_a_status_from_a_newer_perfgate_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    path.write_text(json.dumps({"schema_version": 99, "ok": True}))
    with pytest.raises(LoadError, match=r"status\.json: written by a newer perfgate"):
        read_status(path)


def test_failures_name_the_locustfile_or_say_what_failed() -> None:
    assert str(failure(failed(LocustfileError("no class Chat")), "lf.py", "crashed")) == "lf.py: no class Chat"
    try:
        raise ValueError("boom")
    except ValueError as exc:
        status = failed(exc)
    assert status.kind == "crash" and status.error == "ValueError: boom"
    assert 'raise ValueError("boom")' in status.traceback
    assert str(failure(status, "lf.py", "load generator crashed")) == "load generator crashed: ValueError: boom"
    assert str(failure(LoadStatus(ok=False), "lf.py", "distributed load failed")) == (
        "distributed load failed: unknown error"
    )


def test_a_status_without_ok_is_a_failure_that_says_so() -> None:
    from perfgate.codec import load_status_from_dict

    assert load_status_from_dict({"ok": True}).error == ""
    missing = load_status_from_dict({"started_ns": 1}, "rounds/0001/result.json")
    assert not missing.ok and missing.error == "rounds/0001/result.json has no result"
    assert not load_status_from_dict({"ok": "yes"}).ok  # only a real true is a success
