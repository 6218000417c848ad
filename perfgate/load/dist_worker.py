"""Locust's own master and workers for distributed rounds.

    python -m perfgate.load.dist_worker master SPEC.json
    python -m perfgate.load.dist_worker worker SPEC.json INDEX

Like :mod:`perfgate.load.worker`, these import Locust (gevent-patched), so they
always run in processes of their own and never touch boto3.

How samples travel: each worker records every request with its own
:class:`~perfgate.load.recorder.Recorder` and ships the rows recorded since its
last report as an Arrow IPC blob inside Locust's ``report_to_master`` data
(every ``WORKER_REPORT_INTERVAL``); the rows left when it stops go in a custom
``perfgate_final`` message sent before Locust's ``client_stopped``. The master
concatenates the blobs, and flags warm-up against its own clock.

Timestamps: each row's ``t_ns`` is the worker's wall clock at send time. The
master estimates each worker's clock offset as the minimum over its reports of
(master receive time - worker send time); this bounds skew plus transit
delay. It only shifts a worker's rows when that estimate exceeds
``CLOCK_TOLERANCE_NS`` (hosts whose clocks really differ), so workers on one
host, which share a clock, are never shifted by mere transit delay.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from perfgate.load.status import write_status
from perfgate.load.worker import LocustfileError, build_user_classes, failed, task_tags
from perfgate.model import LoadStatus

if TYPE_CHECKING:
    from locust import User

#: Rows of a worker whose clock offset estimate is beyond this are shifted.
CLOCK_TOLERANCE_NS = 5_000_000
#: Seconds the master waits for every worker's final rows after stopping.
FINAL_WAIT_S = 30.0
FINAL_MESSAGE = "perfgate_final"


class WorkerLost(Exception):
    """A worker did not connect in time, or went missing mid-round."""


def _classes(spec: dict[str, Any]) -> list[type[User]]:
    try:
        users = build_user_classes(spec)
    except Exception as exc:  # whatever the locustfile raises while importing
        raise LocustfileError(f"{type(exc).__name__}: {exc}") from exc
    if users.shape is not None:
        raise LocustfileError(f"shape: {type(users.shape).__name__} runs only in-process (workers = 0)")
    return users.all


def _encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _decode(blob: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all()


# --- worker --------------------------------------------------------------------


def run_worker(spec: dict[str, Any], index: int) -> LoadStatus:
    from locust.env import Environment

    from perfgate.load.recorder import Recorder

    tags, exclude = task_tags(spec)
    env = Environment(user_classes=_classes(spec), tags=tags, exclude_tags=exclude)
    runner = env.create_worker_runner(spec["master_host"], int(spec["master_port"]))
    current = [Recorder()]
    errors: list[str] = []
    env.events.request.add_listener(lambda **kw: current[0].on_request(**kw))
    env.events.user_error.add_listener(lambda user_instance, exception, tb: errors.append(repr(exception)))
    sent = {"rows": 0, "errors": 0}

    def payload(final: bool) -> dict[str, Any]:
        recorder, current[0] = current[0], Recorder()
        table = recorder.to_table().drop_columns(["warmup"])
        new_errors = errors[sent["errors"] :]
        sent["rows"] += table.num_rows
        sent["errors"] = len(errors)
        return {
            "index": index,
            "sent_ns": time.time_ns(),
            "rows": table.num_rows,
            "arrow": _encode(table),
            "user_errors": len(new_errors),
            "first_error": new_errors[0][:300] if new_errors else "",
            "final": final,
        }

    env.events.report_to_master.add_listener(lambda client_id, data: data.update(perfgate=payload(False)))
    env.events.test_stop.add_listener(lambda environment, **kw: runner.send_message(FINAL_MESSAGE, payload(True)))
    runner.greenlet.join()  # returns when the master sends quit (or stops answering heartbeats)
    return LoadStatus(ok=True, requests=sent["rows"])


# --- master --------------------------------------------------------------------


class _Collector:
    """Gathers the workers' blobs and estimates their clock offsets."""

    def __init__(self) -> None:
        self.tables: dict[int, list[pa.Table]] = {}
        self.offsets: dict[int, int] = {}
        self.finals: set[int] = set()
        self.user_errors = 0
        self.first_error = ""

    def add(self, data: dict[str, Any] | None) -> None:
        if not data:
            return
        index = int(data["index"])
        offset = time.time_ns() - int(data["sent_ns"])
        self.offsets[index] = min(offset, self.offsets.get(index, offset))
        self.tables.setdefault(index, []).append(_decode(data["arrow"]))
        self.user_errors += int(data["user_errors"])
        self.first_error = self.first_error or data["first_error"]
        if data["final"]:
            self.finals.add(index)

    def table(self, measure_start_ns: int) -> pa.Table:
        import pyarrow.compute as pc

        from perfgate.model import SAMPLE_SCHEMA

        parts = []
        for index, tables in sorted(self.tables.items()):
            part = pa.concat_tables(tables)
            offset = self.offsets.get(index, 0)
            if abs(offset) > CLOCK_TOLERANCE_NS:
                part = part.set_column(0, "t_ns", pc.add(part["t_ns"], pa.scalar(offset, pa.int64())))
            parts.append(part)
        schema = SAMPLE_SCHEMA.remove(SAMPLE_SCHEMA.get_field_index("warmup"))
        table = pa.concat_tables(parts) if parts else schema.empty_table()
        table = table.sort_by("t_ns")
        warmup = pc.less(table["t_ns"], pa.scalar(measure_start_ns, pa.int64()))
        return table.append_column("warmup", warmup).cast(SAMPLE_SCHEMA)


def _check_workers(runner: Any, expected: int, known: set[str]) -> None:
    from locust.runners import STATE_MISSING

    missing = [c.id for c in runner.clients.values() if c.state == STATE_MISSING]
    gone = known - set(runner.clients.keys())
    if missing or gone:
        who = (missing or sorted(gone))[0]
        raise WorkerLost(
            f"Locust worker {who} stopped answering mid-round ({runner.worker_count} of {expected} workers left)"
        )


def run_master(spec: dict[str, Any]) -> LoadStatus:
    import gevent
    from locust.env import Environment

    user_classes = _classes(spec)
    if spec.get("check_only"):
        return LoadStatus(ok=True, classes=tuple(c.__name__ for c in user_classes))
    expected = int(spec["workers"])
    tags, exclude = task_tags(spec)
    env = Environment(user_classes=user_classes, tags=tags, exclude_tags=exclude)
    runner = env.create_master_runner(spec.get("bind_host", "127.0.0.1"), int(spec["master_port"]))
    collector = _Collector()
    env.events.worker_report.add_listener(lambda client_id, data: collector.add(data.get("perfgate")))
    runner.register_message(FINAL_MESSAGE, lambda environment, msg, **kw: collector.add(msg.data))
    try:
        deadline = time.monotonic() + float(spec.get("expect_timeout", 60.0))
        while runner.worker_count < expected:
            if time.monotonic() > deadline:
                raise WorkerLost(
                    f"only {runner.worker_count} of {expected} Locust workers connected within "
                    f"{spec.get('expect_timeout', 60.0):g}s (expect_timeout)"
                )
            gevent.sleep(0.1)
        known = set(runner.clients.keys())
        started_ns = time.time_ns()
        measure_start_ns = started_ns + int(spec["warmup"] * 1e9)
        total_users = sum(c.fixed_count for c in user_classes)
        starter = gevent.spawn(runner.start, total_users, spec["spawn_rate"] * len(spec["targets"]))
        end = time.monotonic() + spec["warmup"] + spec["duration"]
        while time.monotonic() < end:
            gevent.sleep(0.2)
            _check_workers(runner, expected, known)
        ended_ns = time.time_ns()
        starter.kill(block=True)
        runner.stop()
        deadline = time.monotonic() + FINAL_WAIT_S
        while len(collector.finals) < expected:
            if time.monotonic() > deadline:
                raise WorkerLost(
                    f"{expected - len(collector.finals)} Locust worker(s) never sent their final "
                    f"samples within {FINAL_WAIT_S:g}s of the stop"
                )
            gevent.sleep(0.05)
    finally:
        runner.quit()
    table = collector.table(measure_start_ns)
    import pyarrow.parquet as pq

    pq.write_table(table, spec["out"])
    return LoadStatus(
        ok=True,
        started_ns=started_ns,
        measure_start_ns=measure_start_ns,
        ended_ns=ended_ns,
        requests=table.num_rows,
        workers=expected,
        clock_offsets_ns={str(k): v for k, v in sorted(collector.offsets.items())},
        rows_per_worker={str(k): sum(t.num_rows for t in v) for k, v in sorted(collector.tables.items())},
        user_errors=collector.user_errors,
        first_user_error=collector.first_error,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    role, spec_path = argv[0], Path(argv[1])
    spec = json.loads(spec_path.read_text())
    status_path = Path(spec["status"])
    if role != "master":
        status_path = status_path.with_name(f"worker{argv[2]}-status.json")
    try:
        status = run_master(spec) if role == "master" else run_worker(spec, int(argv[2]))
    except WorkerLost as exc:
        status = LoadStatus(ok=False, kind="workers", error=str(exc))
    except Exception as exc:  # report anything from Locust or the locustfile, then fail the round
        status = failed(exc)
    write_status(status_path, status)
    return 0 if status.ok else {"locustfile": 2, "workers": 3}.get(status.kind, 1)


if __name__ == "__main__":
    sys.exit(main())
