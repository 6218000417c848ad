"""The system under test: started from a worktree, probed until ready, sampled, always reaped."""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa

from perfgate.config import TargetConfig
from perfgate.errors import PortInUseError, TargetError
from perfgate.loopback import urlopen
from perfgate.model import RESOURCE_SCHEMA, Side
from perfgate.procs import kill_tree, raise_file_limit, spawn
from perfgate.shell import Placeholder

HOST = "127.0.0.1"
SAMPLE_INTERVAL_S = 0.25


#: Ports handed out lately: targets launched together must not draw the same one before either binds.
_RECENT_PORTS: collections.deque[int] = collections.deque(maxlen=256)


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port not in _RECENT_PORTS:
            _RECENT_PORTS.append(port)
            return port


def check_port_free(port: int, what: str) -> None:
    """Fails on a live listener; connections left in TIME_WAIT by a killed target are fine."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise PortInUseError(f"port {port} ({what}) is already in use") from exc


class Target:
    """One running instance of the system under test.

    Use as a context manager: the process (and its whole group) is stopped on exit.
    """

    #: Its process runs on this machine (its CPU and RSS are read from the process tree);
    #: a live target's come from its metrics endpoint (perfgate.live).
    runs_here = True

    def __init__(
        self,
        config: TargetConfig,
        worktree: Path,
        data_dir: Path,
        side: Side,
        port: int = 0,
        label: str = "",
        placeholders: Mapping[str, Placeholder] | None = None,
        cpus: frozenset[int] | None = None,
    ):
        self.config = config
        self.worktree = worktree
        self.data_dir = data_dir
        self.side = side
        self.port = port or config.port or free_port()
        self.label = label or side.value
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "target.log"
        self.placeholders: dict[str, Placeholder] = dict(placeholders or {})  # e.g. db_args for a scenario's database
        self.cpus = cpus  # None: wherever the OS schedules it

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> str:
        """The shell command, every substituted value quoted (a path may hold spaces or ``$(...)``)."""
        from perfgate.shell import format_command

        return format_command(
            self.config.command,
            {
                "port": self.port,
                "data_dir": self.data_dir,
                "python": sys.executable,
                "worktree": self.worktree,
                "host": HOST,
                **self.placeholders,
            },
        )

    def __enter__(self) -> Target:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Launch and wait until ready; stopped again if it never gets there."""
        self.launch()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def launch(self) -> None:
        """Start the process without waiting, so that several targets can boot at once."""
        where = "target.port in the config" if self.config.port else "a free port for the target"
        check_port_free(self.port, where)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            command = self.command()
        except KeyError as exc:
            raise TargetError(
                f"[target] command: placeholder {{{exc.args[0]}}} has no value here "
                '(the db_* placeholders need a scenario with database = "mariadb")'
            ) from exc
        env = {**os.environ, **self.config.env, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "wb") as log:
            try:
                self.proc = spawn(
                    command,
                    shell=True,
                    cwd=self.worktree,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    preexec_fn=self._prepare_child,
                )
            except OSError as exc:
                raise TargetError(f"[target] command: cannot start {command!r}: {exc}") from exc

    def _prepare_child(self) -> None:
        """Runs in the child before the command: descriptors for storms, and its CPUs, which
        every thread and process it starts inherits."""
        raise_file_limit()
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)

    def wait_ready(self) -> None:
        """Probe until ready (:meth:`answers`), or raise after ``ready_timeout``."""
        deadline = time.monotonic() + self.config.ready_timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.answers():
                return
            time.sleep(0.05)
        raise TargetError(
            f"{self.label} target not ready at {self.ready_address} after {self.config.ready_timeout:g}s "
            f"([target] ready_timeout){self._log_tail()}"
        )

    @property
    def ready_address(self) -> str:
        """What the ready probe looks at, in words."""
        return f"{HOST}:{self.port} (TCP)" if self.config.ready_probe == "tcp" else self.url + self.config.ready_path

    def answers(self, timeout: float = 1.0) -> bool:
        """One look of the ready probe: HTTP 200 at ``ready_path``, or (``ready_probe = "tcp"``)
        an accepted connect. Start-up and chaos's steady-state probe both ask this."""
        if self.config.ready_probe == "tcp":
            try:
                with socket.create_connection((HOST, self.port), timeout=timeout):
                    return True
            except OSError:
                return False
        try:
            with urlopen(self.url + self.config.ready_path, timeout=timeout) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise TargetError(f"{self.label} target exited with code {code}{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            lines = [x for x in self.log_path.read_text(errors="replace").splitlines() if x.strip()]
        except OSError:
            return ""
        return f": {lines[-1].strip()[:300]}" if lines else ""

    def stop(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc, self.config.stop_timeout)

    def metrics(self) -> dict[str, Any]:
        if self.config.metrics_path is None:
            return {}
        try:
            with urlopen(self.url + self.config.metrics_path, timeout=0.5) as response:
                return parse_metrics(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return {}


#: Prometheus's process collector, by the keys a JSON metrics endpoint uses for the same figures.
PROCESS_METRICS = {"cpu_seconds": "process_cpu_seconds_total", "rss_bytes": "process_resident_memory_bytes"}


def parse_metrics(body: bytes) -> dict[str, Any]:
    """A metrics endpoint's body: a JSON object, or Prometheus text (prometheus-client's parser).

    In Prometheus text, ``connections`` and ``queue_depth`` are samples of those names (or
    ending in ``_connections``/``_queue_depth``, as ``myapp_queue_depth``), and the mode is the
    ``mode`` label of a ``mode`` sample whose value is 1 (an enum, as prometheus-client writes
    one); the process collector's ``process_cpu_seconds_total`` and ``process_resident_memory_bytes``
    read as ``cpu_seconds`` and ``rss_bytes`` (a live target's resources). Anything else is
    ignored; an unparsable body reads as no metrics.
    """
    text = body.decode("utf-8", "replace").lstrip()
    if text.startswith("{"):
        data = json.loads(text)
        return data if isinstance(data, dict) else {}
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            for key in ("connections", "queue_depth"):
                if name == key or name.endswith("_" + key):
                    found.setdefault(key, float(sample.value))
            for key, standard in PROCESS_METRICS.items():
                if name == standard:
                    found.setdefault(key, float(sample.value))
            if (name == "mode" or name.endswith("_mode")) and sample.value == 1 and "mode" in sample.labels:
                found["mode"] = sample.labels["mode"]
    return found


#: One sample, in RESOURCE_SCHEMA's column order.
ResourceRow = tuple[int, str, str, float, int, float | None, float | None, str | None, float]


class ResourceSampler(threading.Thread):
    """Samples a target's CPU, RSS and ``/metrics`` every 250 ms until stopped."""

    def __init__(self, target: Target, process_name: str = "target"):
        super().__init__(daemon=True, name=f"sampler-{target.label}")
        self.target = target
        self.process_name = process_name
        self.rows: list[ResourceRow] = []
        self._halt = threading.Event()

    def run(self) -> None:
        procs: dict[int, psutil.Process] = {}
        cpu_time = _CpuClock()
        reported = _ReportedUsage()
        while not self._halt.is_set():
            cpu = rss = 0.0
            family = self._family(procs)
            for proc in family:
                try:
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
                except psutil.Error:
                    pass
            now_ns, used_s = time.time_ns(), cpu_time.read(family)
            metrics = self.target.metrics()
            if not self.target.runs_here:
                cpu, rss, used_s = reported.read(now_ns, metrics)
            self.rows.append(
                (
                    now_ns,
                    self.target.side.value,
                    self.process_name,
                    cpu,
                    int(rss),
                    _number(metrics.get("connections")),
                    _number(metrics.get("queue_depth")),
                    metrics.get("mode") if isinstance(metrics.get("mode"), str) else None,
                    used_s,
                )
            )
            self._halt.wait(SAMPLE_INTERVAL_S)

    def _family(self, known: dict[int, psutil.Process]) -> list[psutil.Process]:
        """The target's process tree now; it follows a restarted target to its new pid."""
        proc = self.target.proc
        if proc is None or proc.poll() is not None:
            return []
        try:
            root = known.setdefault(proc.pid, psutil.Process(proc.pid))
            return [root] + [known.setdefault(c.pid, c) for c in root.children(recursive=True)]
        except psutil.Error:
            return []

    def stop(self) -> pa.Table:
        self._halt.set()
        self.join(timeout=5)
        columns: list[Sequence[Any]] = list(zip(*self.rows)) if self.rows else [[] for _ in RESOURCE_SCHEMA.names]
        return pa.table(
            [pa.array(col, type=f.type) for col, f in zip(columns, RESOURCE_SCHEMA)], schema=RESOURCE_SCHEMA
        )


class _ReportedUsage:
    """CPU % and seconds, and RSS, as a target's metrics endpoint reports them (``cpu_seconds``,
    ``rss_bytes``); NaN seconds when it reports none, so CPU per request is left unjudged."""

    def __init__(self) -> None:
        self._last: tuple[int, float] | None = None

    def read(self, now_ns: int, metrics: dict[str, Any]) -> tuple[float, float, float]:
        used = _number(metrics.get("cpu_seconds"))
        rss = _number(metrics.get("rss_bytes")) or 0.0
        if used is None:
            return 0.0, rss, float("nan")
        percent = 0.0
        if self._last is not None and now_ns > self._last[0]:
            percent = max(0.0, (used - self._last[1]) * 1e11 / (now_ns - self._last[0]))
        self._last = (now_ns, used)
        return percent, rss, used


class _CpuClock:
    """CPU seconds a process tree has used since sampling began, across restarts.

    Each process's user + system time (all its threads, finished ones included) is
    tracked by pid, and the clock adds every process's increments: a restarted target
    or a process that exits only stops adding. Children's times are left out (a child
    that is waited for would be counted twice).
    """

    def __init__(self) -> None:
        self._seen: dict[int, float] = {}
        self.total_s = 0.0

    def read(self, family: list[psutil.Process]) -> float:
        for proc in family:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            used = times.user + times.system
            before = self._seen.get(proc.pid)
            if before is None:
                self._seen[proc.pid] = used  # only what it uses from now on counts
            elif used > before:
                self.total_s += used - before
                self._seen[proc.pid] = used
        return self.total_s


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def run_setup(
    command: str, worktree: Path, log_path: Path, timeout: float, label: str, env: Mapping[str, str] | None = None
) -> None:
    """``[target] setup`` in ``worktree``, once before its first start ({python} and {worktree}
    quoted in, ``env`` added to the environment as for the target), its output in ``log_path``.
    A failure or a timeout is one TargetError naming the command, its exit and its last line."""
    from perfgate.shell import format_command

    line = format_command(command, {"python": sys.executable, "worktree": worktree})
    with open(log_path, "wb") as log:
        proc = spawn(
            ["/bin/sh", "-c", line],
            env={**os.environ, **(env or {})},
            cwd=worktree,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc, 5.0)
        raise TargetError(f"[target] setup {command!r} of {label}: still running after {timeout:g} s") from None
    finally:
        if proc.poll() is None:
            kill_tree(proc, 5.0)
    if code != 0:
        lines = [x for x in log_path.read_text(errors="replace").splitlines() if x.strip()]
        last = f": {lines[-1].strip()[:300]}" if lines else ""
        raise TargetError(f"[target] setup {command!r} of {label} exited with code {code}{last}")
