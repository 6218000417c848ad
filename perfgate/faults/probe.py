"""The steady-state probe: is a process answering? Polled in a thread, every result timestamped."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from perfgate.errors import ConfigError

#: A probe answers True when the process is in its steady state. It must return
#: within about its timeout; an exception counts as a failure.
ProbeFn = Callable[[], bool]


@dataclass(frozen=True)
class ProbeResult:
    start_ns: int
    end_ns: int  # when the answer was known
    ok: bool


def http_probe(url: str, timeout: float = 0.5) -> ProbeFn:
    """GET ``url`` and expect 200 within ``timeout`` seconds (no proxy, a new connection each time)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(f"probe: {url!r} is not an http:// URL")
    host, port = parts.hostname, parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def probe() -> bool:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    return probe


def as_probe(probe: str | ProbeFn, timeout: float = 0.5) -> ProbeFn:
    return http_probe(probe, timeout) if isinstance(probe, str) else probe


def run_probe(probe: ProbeFn) -> ProbeResult:
    start = time.time_ns()
    try:
        ok = bool(probe())
    except Exception:  # a probe that raises has failed; it must not end the poller
        ok = False
    return ProbeResult(start, time.time_ns(), ok)


class Prober(threading.Thread):
    """Runs ``probe`` every ``interval`` seconds (between answers) until stopped."""

    def __init__(self, name: str, probe: ProbeFn, interval: float = 0.05):
        super().__init__(daemon=True, name=f"probe-{name}")
        self.probe = probe
        self.interval = interval
        self._results: list[ProbeResult] = []
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            result = run_probe(self.probe)
            with self._lock:
                self._results.append(result)
            self._halt.wait(self.interval)

    def results(self) -> list[ProbeResult]:
        with self._lock:
            return list(self._results)

    def latest(self) -> ProbeResult | None:
        with self._lock:
            return self._results[-1] if self._results else None

    def stop(self, timeout: float = 5.0) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout)
