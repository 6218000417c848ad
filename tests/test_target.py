import socket
import sys
import time

import psutil
import pytest

from perfgate.config import TargetConfig
from perfgate.errors import PortInUseError, TargetError
from perfgate.model import Side
from perfgate.target import ResourceSampler, Target

SERVER = """
import json, sys, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"connections": 3, "queue_depth": 7}).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


@pytest.fixture
def server_script(tmp_path):
    path = tmp_path / "server.py"
    path.write_text(SERVER)
    return path


def config(command: str, **kw) -> TargetConfig:
    return TargetConfig(command=command, ready_timeout=kw.pop("ready_timeout", 20), stop_timeout=2, **kw)


def test_start_ready_sample_and_reap(tmp_path, server_script):
    target = Target(config(f"{sys.executable} {server_script} {{port}}"), tmp_path, tmp_path / "d", Side.BASELINE)
    with target:
        pid = target.proc.pid
        sampler = ResourceSampler(target)
        sampler.start()
        time.sleep(0.8)
        table = sampler.stop().to_pylist()
        assert len(table) >= 2
        assert table[-1]["rss_bytes"] > 0 and table[-1]["queue_depth"] == 7 and table[-1]["side"] == "baseline"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_target_that_exits_is_reported_with_its_last_words(tmp_path):
    cmd = f"{sys.executable} -c \"import sys; print('no database here'); sys.exit(4)\""
    with (
        pytest.raises(TargetError, match="exited with code 4: no database here"),
        Target(config(cmd), tmp_path, tmp_path / "d", Side.CANDIDATE),
    ):
        pass


def test_a_target_that_never_gets_ready(tmp_path):
    cmd = f'{sys.executable} -c "import time; time.sleep(60)"'
    target = Target(config(cmd, ready_timeout=0.5), tmp_path, tmp_path / "d", Side.CANDIDATE)
    with pytest.raises(TargetError, match="not ready .* after 0.5s"), target:
        pass
    assert target.proc.poll() is not None


def test_port_in_use(tmp_path, server_script):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = config(f"{sys.executable} {server_script} {{port}}", port=port)
        with pytest.raises(PortInUseError, match=f"port {port} .*already in use"):
            Target(cfg, tmp_path, tmp_path / "d", Side.BASELINE).start()


PROMETHEUS_SERVER = """
import sys, http.server
from prometheus_client import CollectorRegistry, Enum, Gauge, generate_latest
registry = CollectorRegistry()
Gauge("chat_connections", "open sockets", registry=registry).set(3)
Gauge("chat_queue_depth", "queued messages", registry=registry).set(7)
Enum("mode", "service mode", states=["normal", "read_only"], registry=registry).state("read_only")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = generate_latest(registry)
        self.send_response(200); self.send_header("Content-Type", "text/plain; version=0.0.4"); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _sampled(tmp_path, script: str, **kw) -> list[dict]:
    path = tmp_path / "server.py"
    path.write_text(script)
    target = Target(config(f"{sys.executable} {path} {{port}}", **kw), tmp_path, tmp_path / "d", Side.BASELINE)
    with target:
        sampler = ResourceSampler(target)
        sampler.start()
        time.sleep(0.8)
        return sampler.stop().to_pylist()


def test_prometheus_text_metrics_are_read(tmp_path):
    last = _sampled(tmp_path, PROMETHEUS_SERVER)[-1]
    assert (last["connections"], last["queue_depth"], last["mode"]) == (3, 7, "read_only")


def test_metrics_path_false_means_no_metrics_endpoint(tmp_path, server_script):
    rows = _sampled(tmp_path, server_script.read_text(), metrics_path=None)
    assert rows and all(r["queue_depth"] is None for r in rows) and rows[-1]["rss_bytes"] > 0


TCP_ONLY = """
import socket, sys, time
time.sleep(0.3)  # not listening at once: the probe must wait for it
with socket.create_server(("127.0.0.1", int(sys.argv[1]))) as server:
    while True:
        server.accept()[0].close()  # accepts and hangs up: no HTTP here
"""


def test_a_tcp_probe_waits_for_the_port_to_accept(tmp_path):
    script = tmp_path / "tcp_only.py"
    script.write_text(TCP_ONLY)
    command = f"{sys.executable} {script} {{port}}"
    tcp_probe = Target(config(command, ready_probe="tcp", metrics_path=None), tmp_path, tmp_path / "d", Side.BASELINE)
    with tcp_probe:
        socket.create_connection(("127.0.0.1", tcp_probe.port), timeout=2).close()
    http_probe = Target(config(command, ready_timeout=1.5, metrics_path=None), tmp_path, tmp_path / "e", Side.BASELINE)
    with pytest.raises(TargetError, match=r"not ready at http://127\.0\.0\.1:\d+/healthz after 1\.5s"), http_probe:
        pass
