"""A LiveTarget against a real HTTP server on loopback: readiness, version, resources from /metrics."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from perfgate.config import TargetConfig
from perfgate.errors import TargetError
from perfgate.live import LiveTarget, live_revisions
from perfgate.model import Side
from perfgate.target import ResourceSampler

PROMETHEUS = "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu}\n" \
             "process_resident_memory_bytes 5e+07\nmyapp_queue_depth 3\n"  # fmt: skip


class Deployment(BaseHTTPRequestHandler):
    cpu = [1.0]
    bodies = {"/healthz": "ok", "/version": json.dumps({"version": "build-42"}), "/plain": "v7\nmore"}

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self.cpu[0] += 0.05  # 50 ms of CPU between two readings
            body = PROMETHEUS.format(cpu=self.cpu[0])
        else:
            body = self.bodies.get(self.path, "")
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Deployment)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_revisions_come_from_the_flag_else_the_version_endpoint_else_the_url(url):
    config = TargetConfig(baseline_url=url, candidate_url=url + "/", version_path="/version")
    revisions = live_revisions(config, {Side.BASELINE: "blue"})
    assert revisions[Side.BASELINE].label == "blue" and revisions[Side.BASELINE].sha == ""
    assert revisions[Side.CANDIDATE].label == "build-42" and revisions[Side.CANDIDATE].short == "build-42"
    plain = live_revisions(TargetConfig(baseline_url=url, candidate_url=url, version_path="/plain"), {})
    assert plain[Side.BASELINE].label == "v7"
    assert live_revisions(TargetConfig(baseline_url=url, candidate_url=url), {})[Side.BASELINE].label == url
    with pytest.raises(
        TargetError, match=r"\[target\] version_path: cannot read the baseline's version at .*/missing: HTTP Error 404"
    ):
        live_revisions(TargetConfig(baseline_url=url, candidate_url=url, version_path="/missing"), {})


def test_a_live_target_is_sampled_from_its_metrics_endpoint_and_never_stopped(url):
    target = LiveTarget(TargetConfig(baseline_url=url, candidate_url=url), Side.BASELINE, url)
    target.wait_ready()
    sampler = ResourceSampler(target)
    sampler.start()
    time.sleep(1.1)
    rows = sampler.stop().to_pandas()
    assert len(rows) >= 3
    assert rows["cpu_time_s"].is_monotonic_increasing and rows["cpu_time_s"].iloc[0] > 1.0
    assert (rows["rss_bytes"] == 50_000_000).all() and (rows["queue_depth"] == 3).all()
    assert rows["cpu_percent"].iloc[1:].between(5, 40).all()  # 50 ms per ~250 ms reading
    target.stop()
    target.check_alive()  # nothing of ours to watch: never an error
    target.wait_ready()  # still there


def test_an_unready_deployment_is_one_line_naming_it():
    config = TargetConfig(ready_timeout=0.3)
    with pytest.raises(
        TargetError, match=r"candidate \(http://127.0.0.1:9\) target not ready at http://127.0.0.1:9/healthz"
    ):
        LiveTarget(config, Side.CANDIDATE, "http://127.0.0.1:9").wait_ready()
