"""Locust task tags in a scenario: only the tagged tasks run, on both sides."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from perfgate.config import load_config
from perfgate.errors import ConfigError
from perfgate.load.runner import LoadSpec, LoadTarget, run_load
from perfgate.model import Side

LOCUSTFILE = """
from locust import HttpUser, constant, tag, task


class Shopper(HttpUser):
    wait_time = constant(0.02)

    @tag("browse")
    @task
    def catalogue(self):
        self.client.get("/catalogue")

    @tag("buy")
    @task
    def checkout(self):
        self.client.get("/checkout")
"""


class _Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.e2e  # real Locust load
@pytest.mark.parametrize("tags, exclude, names", [(("browse",), (), {"/catalogue"}), ((), ("browse",), {"/checkout"})])
def test_only_the_chosen_tags_run(server: str, tmp_path: Path, tags, exclude, names) -> None:
    locustfile = tmp_path / "shop.py"
    locustfile.write_text(LOCUSTFILE)
    spec = LoadSpec(
        str(locustfile),
        ("Shopper",),
        2,
        2.0,
        0.2,
        1.5,
        tuple(LoadTarget(side, server) for side in (Side.BASELINE, Side.CANDIDATE)),
        tags=tags,
        exclude_tags=exclude,
    )
    samples = run_load(spec, tmp_path / "load").samples.to_pandas()
    assert set(samples["name"]) == names and set(samples["side"]) == {"baseline", "candidate"}


def test_tags_are_read_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "perfgate.toml").write_text('[load]\ntags = ["browse"]\nexclude_tags = ["slow"]\n')
    scenario = load_config(directory=tmp_path).scenarios[0]
    assert (scenario.tags, scenario.exclude_tags) == (("browse",), ("slow",))
    (tmp_path / "perfgate.toml").write_text('[load]\ntags = "browse"\n')
    with pytest.raises(ConfigError, match=r"\[load\] tags: must be a list of Locust tag names"):
        load_config(directory=tmp_path)
