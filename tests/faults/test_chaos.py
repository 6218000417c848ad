"""Chaos actions on real processes: kill, pause/resume, restart; and schedule validation."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfgate.config import TargetConfig
from perfgate.errors import ConfigError, FaultError
from perfgate.faults.chaos import Action, ChaosRunner, ChaosSpec, Managed, parse_chaos, target_process
from perfgate.faults.probe import http_probe
from perfgate.model import Side
from perfgate.target import Target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HttpServer:
    """``python -m http.server`` on loopback: a real process the runner can kill and restart."""

    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1", "--directory", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        probe = http_probe(self.url, 0.5)
        deadline = time.monotonic() + 20
        while not probe():
            assert self.proc.poll() is None, "http.server exited"
            assert time.monotonic() < deadline, "http.server not ready"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.restarts += 1
        self.stop()
        self.start()

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def managed(self, name: str = "target") -> Managed:
        return Managed(name, self.pid, self.restart, self.url)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HttpServer]:
    srv = HttpServer(tmp_path)
    srv.start()
    yield srv
    srv.stop()


def run(specs: list[dict], procs: list[Managed], settle: float = 20.0) -> tuple:
    runner = ChaosRunner(parse_chaos(specs), procs, probe_interval=0.05, probe_timeout=0.3)
    runner.start()
    try:
        assert runner.wait(settle), "the schedule did not finish and recover"
        time.sleep(0.2)  # a few steady probes after recovery
    finally:
        windows = runner.stop()
    return windows


def test_kill_then_restart_shows_detect_and_recover(server: HttpServer) -> None:
    first_pid = server.pid()
    (window,) = run([{"at": 0.3, "action": "kill", "for": 0.5}], [server.managed()])
    d = window.detail
    assert window.kind == "chaos" and window.label == "kill target for 0.5s"
    assert server.restarts == 1 and server.pid() != first_pid
    assert d.steady_before is True and d.steady_after is True
    assert d.failed_probes >= 2
    assert d.detect_ms is not None and d.detect_ms >= 0
    assert d.error_window_ms > 0
    assert d.recover_ms is not None and d.recover_ms > 0
    # the process was down from the kill until it came back
    assert d.real_ns < d.error_start_ns <= d.error_end_ns < d.recovered_ns
    assert d.restore_planned_ns == d.planned_ns + 500_000_000 <= d.restore_ns
    assert d.planned_ns <= d.real_ns and window.start_ns == d.real_ns
    assert window.end_ns == max(d.recovered_ns, d.restore_done_ns)  # recovered, and the restart returned
    assert d.error is None


def test_pause_and_resume(server: HttpServer) -> None:
    windows = run([{"at": 0.2, "action": "pause"}, {"at": 1.2, "action": "resume"}], [server.managed()])
    pause, resume = windows
    assert pause.label == "pause target" and resume.label == "resume target"
    assert pause.detail.failed_probes >= 1  # SIGSTOP: connects, then no answer within the timeout
    assert pause.detail.detect_ms is not None
    assert pause.detail.recover_ms is None  # a pause alone restores nothing
    assert resume.detail.recover_ms is not None and resume.detail.steady_after is True
    assert server.pid() is not None and server.restarts == 0
    assert server.proc is not None and server.proc.poll() is None


def test_pause_for_resumes_by_itself(server: HttpServer) -> None:
    (window,) = run([{"at": 0.2, "action": "pause", "for": 0.8}], [server.managed()])
    d = window.detail
    assert d.restore_planned_ns == d.planned_ns + 800_000_000 <= d.restore_ns
    assert d.detect_ms is not None and d.recover_ms is not None
    assert d.steady_after is True


def test_restart_of_a_named_dependency(server: HttpServer, tmp_path: Path) -> None:
    other = HttpServer(tmp_path)
    other.start()
    try:
        (window,) = run(
            [{"at": 0.1, "action": "restart", "process": "cache"}], [server.managed(), other.managed("cache")]
        )
        assert other.restarts == 1 and server.restarts == 0
        assert window.label == "restart cache"
        assert window.detail.recover_ms is not None
    finally:
        other.stop()


def test_probe_that_never_fails_has_no_detection() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        managed = Managed("sleeper", lambda: proc.pid, lambda: None, lambda: True)
        (window,) = run([{"at": 0.1, "action": "pause", "process": "sleeper", "for": 0.3}], [managed])
        assert window.detail.detect_ms is None and window.detail.failed_probes == 0
        assert window.detail.error_window_ms is None
        assert window.detail.steady_after is True
    finally:
        proc.kill()
        proc.wait()


def test_stop_resumes_a_process_left_paused(server: HttpServer) -> None:
    runner = ChaosRunner(parse_chaos([{"at": 0, "action": "pause"}]), [server.managed()], probe_timeout=0.2)
    runner.start()
    time.sleep(0.5)
    (window,) = runner.stop()
    assert window.detail.resumed_at_stop is True
    assert http_probe(server.url, 2.0)()


def test_failed_action_is_recorded(server: HttpServer) -> None:
    managed = Managed("gone", lambda: None, lambda: None, server.url)
    (window,) = run([{"at": 0, "action": "kill", "process": "gone"}], [managed])
    assert "not running" in window.detail.error


def test_chaos_on_a_real_target(tmp_path: Path) -> None:
    config = TargetConfig(command="{python} -m http.server {port} --bind {host}", ready_path="/", ready_timeout=20)
    target = Target(config, tmp_path, tmp_path / "data", Side.BASELINE)
    with target:
        (window,) = run([{"at": 0.2, "action": "kill", "for": 0.3}], [target_process(target)], settle=8)
        assert window.detail.error is None, window.detail.error
        assert window.detail.recover_ms is not None
        assert target.proc is not None and target.proc.poll() is None


def test_chaos_on_a_tcp_target_probes_it_over_tcp(tmp_path: Path) -> None:
    """A target with ``ready_probe = "tcp"`` (XMPP, SMTP, ...) answers no HTTP: chaos must time its
    recovery with the same probe that said it was ready."""
    serve = "import socket; s = socket.create_server(('{host}', {port})); [s.accept()[0].close() for _ in iter(int, 1)]"
    config = TargetConfig(command=f'{{python}} -c "{serve}"', ready_probe="tcp", ready_timeout=20)
    target = Target(config, tmp_path, tmp_path / "data", Side.BASELINE)
    with target:
        (window,) = run([{"at": 0.2, "action": "kill", "for": 0.3}], [target_process(target)], settle=8)
        assert window.detail.error is None, window.detail.error
        assert window.detail.recover_ms is not None


def test_unknown_process_is_refused(server: HttpServer) -> None:
    with pytest.raises(FaultError, match=r"chaos\[0\]\.process: no managed process 'db'"):
        ChaosRunner(parse_chaos([{"at": 1, "action": "kill", "process": "db"}]), [server.managed()])


def test_parse_defaults() -> None:
    (spec,) = parse_chaos([{"at": 2, "action": "pause", "for": 1.5}])
    assert spec == ChaosSpec(at=2.0, action=Action.PAUSE, process="target", duration=1.5)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"action": "kill"}, r"chaos\[0\]\.at: is required"),
        ({"at": 1}, r"chaos\[0\]\.action: is required"),
        ({"at": -1, "action": "kill"}, r"chaos\[0\]\.at: must be >= 0"),
        ({"at": "soon", "action": "kill"}, r"chaos\[0\]\.at: must be a number"),
        ({"at": True, "action": "kill"}, r"chaos\[0\]\.at: must be a number"),
        ({"at": 1, "action": "explode"}, r"chaos\[0\]\.action: must be one of kill, pause, resume, restart"),
        ({"at": 1, "action": "kill", "process": ""}, r"chaos\[0\]\.process: must be a non-empty string"),
        ({"at": 1, "action": "resume", "for": 2}, r"chaos\[0\]\.for: only pause and kill"),
        ({"at": 1, "action": "pause", "for": 0}, r"chaos\[0\]\.for: must be > 0"),
        ({"at": 1, "action": "kill", "when": 3}, r"chaos\[0\]\.when: unknown key"),
        ("kill", r"chaos\[0\]: must be a table"),
    ],
)
def test_validation_names_the_key(item: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_chaos([item])


def test_validation_of_the_sequence() -> None:
    where = "scenarios.storm.chaos"
    with pytest.raises(ConfigError, match=r"scenarios\.storm\.chaos\[0\]\.action: resume at 1s"):
        parse_chaos([{"at": 1, "action": "resume"}], where)
    with pytest.raises(ConfigError, match=r"chaos\[1\]\.at: 'target' is already paused at 2s"):
        parse_chaos([{"at": 1, "action": "pause", "for": 5}, {"at": 2, "action": "pause"}])
    with pytest.raises(ConfigError, match=r"chaos\[1\]\.action: resume at 2s"):
        parse_chaos([{"at": 1, "action": "pause", "for": 5}, {"at": 2, "action": "resume"}])
    ok = parse_chaos(
        [{"at": 3, "action": "resume"}, {"at": 1, "action": "pause"}, {"at": 4, "action": "pause", "for": 1}]
    )
    assert [s.action for s in ok] == [Action.RESUME, Action.PAUSE, Action.PAUSE]
