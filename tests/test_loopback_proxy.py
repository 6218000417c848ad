"""An ``http_proxy`` in the environment must not reach loopback: readiness probes, /metrics and load bypass it."""

from __future__ import annotations

import http.server
import socket
import sys
import textwrap
import threading

import pytest

from perfgate.config import TargetConfig
from perfgate.load.runner import LoadSpec, check_locustfile
from perfgate.model import Side
from perfgate.target import Target

SERVER = textwrap.dedent("""
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b'{"connections": 3}')
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def dead_proxy(monkeypatch):
    proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return proxy


def test_probes_bypass_the_proxy(tmp_path, dead_proxy):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    config = TargetConfig(
        command=f"exec {sys.executable} {script} {{port}}",
        ready_path="/",
        metrics_path="/",
        ready_timeout=5,
        stop_timeout=2,
    )
    with Target(config, tmp_path, tmp_path / "data", Side.BASELINE) as target:  # waits until ready
        assert target.metrics() == {"connections": 3}


LOCUSTFILE = """
import urllib.request
from locust import User, task

# Any loopback request at import time, as a locustfile fetching its fixtures would make one.
urllib.request.urlopen("http://127.0.0.1:{port}/", timeout=2).read()


class Quiet(User):
    @task
    def nothing(self):
        pass
"""


def test_load_processes_bypass_the_proxy(tmp_path, dead_proxy):
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        locustfile = tmp_path / "fixtures_at_import.py"
        locustfile.write_text(LOCUSTFILE.format(port=server.server_address[1]))
        spec = LoadSpec(str(locustfile), ("Quiet",), 1, 1, 0, 1, ())
        check_locustfile(spec, tmp_path / "check")  # raises LoadError if the import went to the proxy
    finally:
        server.shutdown()
        server.server_close()
