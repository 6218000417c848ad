"""Toxiproxy's HTTP API over real HTTP: raw requests shaped like the official clients', and a real client."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perfgate.faults import ProxyThread
from perfgate.faults.api import start_api
from tests.faults.helpers_faults import TcpServer, connect, timed_echo


class Api:
    """Raw JSON requests, with the official CLI's User-Agent and Content-Type."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def __call__(
        self, method: str, path: str, body: Any = None, agent: str = "toxiproxy-cli/2.6.0 linux/amd64"
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "User-Agent": agent},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode()


@pytest.fixture
def api() -> Iterator[Api]:
    thread = ProxyThread().start()
    runner, port = thread.call(start_api(thread.server, "127.0.0.1", 0))
    try:
        yield Api(port)
    finally:
        thread.call(runner.cleanup())
        thread.stop()


def test_proxy_lifecycle(api: Api, echo: TcpServer) -> None:
    status, proxy = api("POST", "/proxies", {"name": "echo", "listen": "127.0.0.1:0", "upstream": echo.addr})
    assert status == 201
    assert proxy == {"name": "echo", "listen": proxy["listen"], "upstream": echo.addr, "enabled": True, "toxics": []}
    port = int(proxy["listen"].rsplit(":", 1)[1])
    assert port > 0  # port 0 replaced by the one picked
    with connect(port) as s:
        assert timed_echo(s)[0] == b"ping"
    assert api("GET", "/proxies") == (200, {"echo": proxy})
    assert api("GET", "/proxies/echo") == (200, proxy)
    assert api("POST", "/proxies", {"name": "echo", "upstream": echo.addr}) == (
        409,
        {"error": "proxy already exists", "status": 409},
    )
    assert api("POST", "/proxies", {"upstream": echo.addr}) == (
        400,
        {"error": "missing required field: name", "status": 400},
    )
    assert api("POST", "/proxies", {"name": "x"}) == (400, {"error": "missing required field: upstream", "status": 400})
    status, down = api("POST", "/proxies/echo", {"enabled": False})
    assert status == 200 and down["enabled"] is False and down["listen"] == proxy["listen"]
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    assert api("PATCH", "/proxies/echo", {"enabled": True})[1]["enabled"] is True
    with connect(port) as s:
        assert timed_echo(s)[0] == b"ping"
    assert api("DELETE", "/proxies/echo") == (204, None)
    assert api("GET", "/proxies/echo") == (404, {"error": "proxy not found", "status": 404})
    assert api("DELETE", "/proxies/echo") == (404, {"error": "proxy not found", "status": 404})
    assert api("GET", "/proxies") == (200, {})


def test_toxic_lifecycle(api: Api, echo: TcpServer) -> None:
    _, proxy = api("POST", "/proxies", {"name": "echo", "listen": "127.0.0.1:0", "upstream": echo.addr})
    port = int(proxy["listen"].rsplit(":", 1)[1])
    status, toxic = api("POST", "/proxies/echo/toxics", {"type": "latency", "attributes": {"latency": 200}})
    assert status == 200
    assert toxic == {
        "attributes": {"latency": 200, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
    }
    with connect(port) as s:
        assert timed_echo(s)[1] >= 0.19
    assert api("POST", "/proxies/echo/toxics", {"type": "latency"}) == (
        409,
        {"error": "toxic already exists", "status": 409},
    )
    assert api("POST", "/proxies/echo/toxics", {"type": "lag"}) == (400, {"error": "invalid toxic type", "status": 400})
    assert api("POST", "/proxies/echo/toxics", {"type": "latency", "stream": "sideways"}) == (
        400,
        {"error": "stream was invalid, can be either upstream or downstream", "status": 400},
    )
    assert api("POST", "/proxies/nope/toxics", {"type": "latency"}) == (
        404,
        {"error": "proxy not found", "status": 404},
    )
    status, up = api(
        "POST",
        "/proxies/echo/toxics",
        {"name": "cut", "type": "limit_data", "stream": "upstream", "toxicity": 0.5, "attributes": {"bytes": 10}},
    )
    assert status == 200 and up["toxicity"] == 0.5
    assert api("GET", "/proxies/echo/toxics") == (200, [up, toxic])  # upstream first, as Toxiproxy
    assert api("GET", "/proxies/echo/toxics/cut") == (200, up)
    status, changed = api("POST", "/proxies/echo/toxics/latency_downstream", {"attributes": {"jitter": 5}})
    assert status == 200 and changed["attributes"] == {"latency": 200, "jitter": 5}
    assert api("GET", "/proxies/echo")[1]["toxics"] == [up, changed]
    assert api("DELETE", "/proxies/echo/toxics/cut") == (204, None)
    assert api("GET", "/proxies/echo/toxics/cut") == (404, {"error": "toxic not found", "status": 404})
    assert api("DELETE", "/proxies/echo/toxics/cut") == (404, {"error": "toxic not found", "status": 404})
    assert (
        api(
            "POST", "/proxies/echo/toxics", {"type": "stall", "toxicity_mode": "chunk", "attributes": {"duration": 50}}
        )[1]["toxicity_mode"]
        == "chunk"
    )


def test_reset_enables_all_and_removes_toxics(api: Api, echo: TcpServer) -> None:
    api("POST", "/proxies", {"name": "a", "listen": "127.0.0.1:0", "upstream": echo.addr, "enabled": False})
    api("POST", "/proxies", {"name": "b", "listen": "127.0.0.1:0", "upstream": echo.addr})
    api("POST", "/proxies/b/toxics", {"type": "timeout", "attributes": {"timeout": 0}})
    assert api("GET", "/proxies/a")[1]["enabled"] is False
    assert api("POST", "/reset") == (204, None)
    proxies = api("GET", "/proxies")[1]
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())


def test_populate_from_a_toxiproxy_config_file(api: Api, echo: TcpServer, tmp_path: Path) -> None:
    config = tmp_path / "toxiproxy.json"
    config.write_text(
        json.dumps(
            [
                {"name": "web_dev_frontend_1", "listen": "127.0.0.1:0", "upstream": echo.addr, "enabled": True},
                {"name": "web_dev_mysql_1", "listen": "127.0.0.1:0", "upstream": echo.addr},
            ]
        )
    )
    status, body = api("POST", "/populate", json.loads(config.read_text()))
    assert status == 201 and [p["name"] for p in body["proxies"]] == ["web_dev_frontend_1", "web_dev_mysql_1"]
    front = body["proxies"][0]
    api("POST", "/proxies/web_dev_frontend_1/toxics", {"type": "latency", "attributes": {"latency": 1}})
    # the same listen and upstream again: untouched, toxics kept
    status, again = api(
        "POST", "/populate", [{"name": "web_dev_frontend_1", "listen": front["listen"], "upstream": echo.addr}]
    )
    assert status == 201 and again["proxies"][0]["toxics"] and again["proxies"][0]["listen"] == front["listen"]
    # a different upstream: replaced, toxics gone
    status, replaced = api(
        "POST",
        "/populate",
        [
            {
                "name": "web_dev_frontend_1",
                "listen": "127.0.0.1:0",
                "upstream": echo.addr.replace("127.0.0.1", "localhost"),
            }
        ],
    )
    assert status == 201 and replaced["proxies"][0]["toxics"] == []
    status, bad = api("POST", "/populate", [{"name": "x", "listen": "127.0.0.1:0"}])
    assert status == 400 and bad["error"].startswith("missing required field: upstream") and bad["proxies"] is None
    assert "x" not in api("GET", "/proxies")[1]


def test_version_errors_and_browsers(api: Api) -> None:
    status, body = api("GET", "/version")
    assert status == 200 and body["version"].startswith("2.")
    assert api("POST", "/proxies", None)[0] == 400
    assert api("GET", "/proxies", agent="Mozilla/5.0 (X11)") == (403, "User agent not allowed\n")


def test_the_toxiproxy_python_client_works(api: Api, echo: TcpServer) -> None:
    toxiproxy = pytest.importorskip("toxiproxy")
    server = toxiproxy.Toxiproxy()
    server.update_api_consumer("127.0.0.1", api.port)
    assert server.running()
    proxy = server.create(upstream=echo.addr, name="echo")
    port = int(proxy.listen.rsplit(":", 1)[1])
    proxy.add_toxic(type="latency", attributes={"latency": 150})
    assert list(proxy.toxics()) == ["latency_downstream"]
    with connect(port) as s:
        assert timed_echo(s)[1] >= 0.14
    proxy.destroy_toxic("latency_downstream")
    with proxy.down(), pytest.raises(ConnectionRefusedError):
        connect(port)
    with connect(port) as s:
        assert timed_echo(s)[0] == b"ping"
    with pytest.raises(toxiproxy.exceptions.ProxyExists):
        server.create(upstream=echo.addr, name="echo")
    assert set(server.proxies()) == {"echo"}
    server.reset()
    server.destroy_all()
    assert server.proxies() == {}


def test_serve_command_runs_until_interrupted(echo: TcpServer, tmp_path: Path) -> None:
    config = tmp_path / "populate.json"
    config.write_text(json.dumps([{"name": "echo", "listen": "127.0.0.1:0", "upstream": echo.addr}]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "perfgate.cli", "proxy", "serve", "--port", "0", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        line = proc.stderr.readline()  # type: ignore[union-attr]
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        status, proxies = Api(int(match.group(1)))("GET", "/proxies")
        assert status == 200 and list(proxies) == ["echo"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]


def test_serve_command_reports_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = subprocess.run(
        [sys.executable, "-m", "perfgate.cli", "proxy", "serve", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert "--config" in done.stderr and "Traceback" not in done.stderr


def test_metrics_counts_bytes_per_proxy_and_direction_as_toxiproxy_does(api: Api, echo: TcpServer) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    _, proxy = api("POST", "/proxies", {"name": "echo", "listen": "127.0.0.1:0", "upstream": echo.addr})
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as s:
        for _ in range(3):
            assert timed_echo(s)[0] == b"ping"
    status, text = api("GET", "/metrics")
    assert status == 200
    values = {
        (sample.name, sample.labels["direction"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.endswith("_bytes_total") and sample.labels.get("proxy") == "echo"
    }
    assert values[("toxiproxy_proxy_received_bytes_total", "upstream")] == 12.0  # 3 x "ping"
    assert values[("toxiproxy_proxy_sent_bytes_total", "upstream")] == 12.0
    assert values[("toxiproxy_proxy_received_bytes_total", "downstream")] == 12.0  # the echoes
    assert values[("toxiproxy_proxy_sent_bytes_total", "downstream")] == 12.0
