"""The load process: ``python -m perfgate.load.worker SPEC.json``.

It imports Locust (which monkey-patches the process with gevent), so it always
runs in a process of its own. It reads a :class:`perfgate.load.runner.LoadSpec`
as JSON, runs the users for warm-up plus the measured window, and writes every
request to Parquet plus a small status JSON.

Under a duet round each user class is subclassed once per side, with that
side's ``host`` and a ``context()`` that tags its requests with the side.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported for real only inside the load process, after Locust's gevent patching
    from locust import User
    from locust.shape import LoadTestShape

    from perfgate.load.safety import Safety
    from perfgate.model import LoadStatus


class LocustfileError(Exception):
    """The locustfile does not import, or lacks a configured user class."""


def _side_class(
    cls: type[User],
    position: int,
    side: str,
    host: str,
    count: int,
    accounts: tuple[dict[str, str], ...] = (),
    first: int = 0,
    safety: Safety | None = None,
) -> type[User]:
    """``cls`` for one side: its host, a context naming the side, ``count`` users, paired streams,
    (with accounts) the k-th user's account ``first + k``, round robin, before its own ``__init__``,
    and (for live targets) the safety limits in front of its HTTP client.

    Locust spawns classes in the order of their names, and the k-th users of the sides then run
    in step (paired streams), the first-spawned one a moment ahead. The name leads with the
    side's ``position`` in the round, so the plan's alternation of who starts first reaches the
    users too; named by side alone, the baseline's users would be spawned first in every round."""
    base_context = cls.context
    started = itertools.count()

    def context(self: User) -> dict[str, Any]:
        return {**base_context(self), "side": side}

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        k = next(started)
        if accounts:
            self.perfgate_account = dict(accounts[(first + k) % len(accounts)])
        cls.__init__(self, *args, **kwargs)  # the class's own constructor, then perfgate's streams
        if safety is not None:
            from perfgate.load.safety import guard_client

            guard_client(self, side, safety)
        self.perfgate_tasks = random.Random(f"{cls.__name__}/{k}")
        self.perfgate_waits = random.Random(f"{cls.__name__}/{k}/wait").getstate()

    def wait_time(self: Any) -> float:
        """The class's own wait_time, drawing from this user's stream instead of the shared one.

        Locust's wait functions (between, constant_pacing, ...) call the module-level
        ``random``; its state is swapped in and out around the call, which never yields.
        """
        shared = random.getstate()
        random.setstate(self.perfgate_waits)
        try:
            return float(cls.wait_time(self))
        finally:
            self.perfgate_waits = random.getstate()
            random.setstate(shared)

    return type(
        f"{cls.__name__}_{position:03d}_{side}",
        (cls,),
        {
            "host": host,
            "context": context,
            "fixed_count": count,
            "abstract": False,
            "__module__": cls.__module__,
            "__init__": __init__,
            "wait_time": wait_time,
        },
    )


def pair_task_streams() -> None:
    """The k-th user of a class picks its tasks (and waits) from the same seeded streams on both sides.

    Locust draws every user's next task and wait from the process-wide ``random``, so
    in a duet round the two sides run different mixes of requests, and a metric that
    mixes names (the target's CPU per request) inherits that noise. With one stream
    per (class, k), both sides replay the same task sequence with the same waits, each
    at its own pace. Users that perfgate did not subclass keep Locust's behaviour.
    """
    from locust.user.task import DefaultTaskSet, TaskSet

    for taskset, tasks_of in ((TaskSet, lambda ts: ts.tasks), (DefaultTaskSet, lambda ts: ts.user.tasks)):
        unpaired = taskset.get_next_task

        def get_next_task(self: Any, unpaired: Any = unpaired, tasks_of: Any = tasks_of) -> Any:
            stream, tasks = getattr(self.user, "perfgate_tasks", None), tasks_of(self)
            return stream.choice(tasks) if stream is not None and tasks else unpaired(self)

        setattr(taskset, "get_next_task", get_next_task)  # noqa: B010 (mypy refuses assigning a method)


def load_user_classes(
    locustfile: str, names: list[str], shape: str | bool = False
) -> tuple[list[type], LoadTestShape | None]:
    """The named user classes of ``locustfile``, and the shape it runs (see :func:`~perfgate.load.shape.pick_shape`)."""
    from locust.util.load_locustfile import load_locustfile

    from perfgate.load.shape import pick_shape

    try:
        found, shapes = load_locustfile(locustfile)
    except SystemExit as exc:
        raise ImportError(f"cannot import {locustfile}") from exc
    missing = [n for n in names if n not in found]
    if missing:
        known = ", ".join(sorted(found)) or "none"
        raise LookupError(f"user_classes: no user class {missing[0]!r} in {locustfile} (found: {known})")
    return [found[n] for n in names], pick_shape(shapes, shape)


def task_tags(spec: dict[str, Any]) -> tuple[list[str] | None, list[str] | None]:
    """Locust's ``tags`` and ``exclude_tags`` for the Environment (None: no filter)."""
    return list(spec.get("tags") or ()) or None, list(spec.get("exclude_tags") or ()) or None


@dataclass(frozen=True)
class UserClasses:
    """A round's users: the locustfile's classes, and each one's subclass per side (``sides[side][i]``)."""

    classes: list[type]
    sides: list[list[type[User]]]
    shape: LoadTestShape | None = None  # drives the counts; otherwise each side runs ``fixed_count`` users a class
    safety: Safety | None = None  # a live run's limits

    @property
    def all(self) -> list[type[User]]:
        return [cls for side in self.sides for cls in side]


def build_user_classes(spec: dict[str, Any]) -> UserClasses:
    from perfgate.credentials import read_accounts
    from perfgate.load.shape import user_counts
    from perfgate.procs import raise_file_limit  # after Locust's gevent patching, as every import here

    os.environ.update(spec.get("env") or {})  # scenario settings the locustfile reads
    raise_file_limit()
    pair_task_streams()
    classes, shape = load_user_classes(spec["locustfile"], spec["user_classes"], spec.get("shape", False))
    counts = user_counts(spec["users"], classes, every_class=True)
    accounts = read_accounts(Path(spec["credentials"])) if spec.get("credentials") else ()
    firsts = [sum(counts[:i]) for i in range(len(classes))]  # each class's first account
    safety = None
    if spec.get("limits"):
        from perfgate.load.safety import Safety

        safety = Safety(spec["limits"], [target["side"] for target in spec["targets"]])
    sides = [
        [
            _side_class(cls, position, target["side"], target["host"], count, accounts, first, safety)
            for cls, count, first in zip(classes, counts, firsts)
        ]
        for position, target in enumerate(spec["targets"])
    ]
    return UserClasses(classes, sides, shape, safety)


def _watch_lag(lags: list[tuple[int, float]], interval: float = 0.05) -> None:
    """How late the event loop wakes up: every request is sent that much after it was due.

    Closed-loop load hides coordinated omission this way; a growing lag flags it.
    """
    import gevent

    while True:
        before = time.perf_counter()
        gevent.sleep(interval)
        lags.append((time.time_ns(), (time.perf_counter() - before - interval) * 1000))


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run(spec: dict[str, Any]) -> LoadStatus:
    import gevent
    import psutil
    from locust.env import Environment

    from perfgate.load.recorder import Recorder
    from perfgate.model import LoadStatus

    if spec.get("cpus"):
        os.sched_setaffinity(0, spec["cpus"])
    from perfgate.load.shape import ShapeDriver, ShapeError

    try:
        users = build_user_classes(spec)
    except ShapeError as exc:
        raise LocustfileError(str(exc)) from exc
    except Exception as exc:  # whatever the locustfile raises while importing
        raise LocustfileError(f"{type(exc).__name__}: {exc}") from exc
    shape_name = type(users.shape).__name__ if users.shape else ""
    if spec.get("check_only"):
        return LoadStatus(ok=True, classes=tuple(c.__name__ for c in users.all), shape=shape_name)
    started_ns = time.time_ns()
    measure_start_ns = started_ns + int(spec["warmup"] * 1e9)
    recorder = Recorder(measure_start_ns)
    tags, exclude = task_tags(spec)
    env = Environment(user_classes=users.all, tags=tags, exclude_tags=exclude)
    env.events.request.add_listener(recorder.on_request)
    safety = users.safety
    if safety is not None:
        env.events.request.add_listener(safety.on_request)
    user_errors: list[str] = []
    env.events.user_error.add_listener(lambda user_instance, exception, tb: user_errors.append(repr(exception)))
    runner = env.create_local_runner()
    me = psutil.Process()
    me.cpu_percent(None)
    cpu: list[float] = []
    end = time.monotonic() + spec["warmup"] + spec["duration"]
    if users.shape is None:
        total_users = sum(int(getattr(c, "fixed_count", 0)) for c in users.all)
        runner.start(total_users, spawn_rate=spec["spawn_rate"] * len(spec["targets"]))
        shaping = None
    else:
        shaping = gevent.spawn(ShapeDriver(users.shape, runner, users.classes, users.sides).run, end)
    Path(spec["out"]).with_name("started").write_text(str(started_ns))  # the gate starts fault schedules
    lags: list[tuple[int, float]] = []
    lag_watch = gevent.spawn(_watch_lag, lags)
    while (left := end - time.monotonic()) > 0 and not (shaping is not None and shaping.ready()):
        _nap(min(1.0, left), safety)
        cpu.append(me.cpu_percent(None))
        if safety is not None and safety.aborted:
            break  # a live run's safety limit: stop at once
    if shaping is not None:
        shaping.kill()
        shaping.get()  # re-raises what the shape raised: the round fails
    ended_ns = time.time_ns()
    lag_watch.kill()
    runner.quit()
    table = recorder.to_table()
    import pyarrow.parquet as pq

    pq.write_table(table, spec["out"])
    measured = cpu[int(spec["warmup"]) :] or cpu
    measured_lag = [lag for t, lag in lags if t >= measure_start_ns]
    return LoadStatus(
        ok=True,
        started_ns=started_ns,
        measure_start_ns=measure_start_ns,
        ended_ns=ended_ns,
        requests=len(recorder),
        generator_cpu=sum(measured) / max(len(measured), 1),
        generator_cpu_max=max(measured, default=0.0),
        loop_lag_ms_p50=_quantile(measured_lag, 0.5),
        loop_lag_ms_p99=_quantile(measured_lag, 0.99),
        user_errors=len(user_errors),
        first_user_error=user_errors[0][:300] if user_errors else "",
        shape=shape_name,
        aborted=safety.aborted if safety is not None else "",
    )


def _nap(seconds: float, safety: Safety | None) -> None:
    """Sleep ``seconds``, waking early when a safety limit aborted the round."""
    import gevent

    if safety is None:
        gevent.sleep(seconds)
        return
    until = time.monotonic() + seconds
    while not safety.aborted and (left := until - time.monotonic()) > 0:
        gevent.sleep(min(0.05, left))


def main() -> int:
    spec_path = Path(sys.argv[1])
    spec = json.loads(spec_path.read_text())
    try:
        status = run(spec)
    except Exception as exc:  # report anything from the locustfile, then fail the round
        status = failed(exc)
    from perfgate.load.status import write_status

    write_status(Path(spec["status"]), status)
    return 0 if status.ok else 2 if status.kind == "locustfile" else 1


def failed(exc: Exception) -> LoadStatus:
    """The status of a load process that raised ``exc``."""
    from perfgate.load.status import crashed
    from perfgate.model import LoadStatus

    if isinstance(exc, LocustfileError):
        return LoadStatus(ok=False, kind="locustfile", error=str(exc))
    return crashed(exc)


if __name__ == "__main__":
    sys.exit(main())
