"""``perfgate init`` for your own service: a config for it, a starter locustfile, next steps."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import git
import pytest

from perfgate.commands.init import template
from perfgate.config import load_config
from tests.support import run_cli

SERVE = f"{sys.executable} -m http.server {{port}} --bind 127.0.0.1"


def test_init_writes_a_config_for_your_service_and_a_starter_locustfile(tmp_path):
    result = run_cli("init", "--command", SERVE, "--ready-path", "/", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = load_config(directory=tmp_path)
    assert config.target.command == SERVE and config.target.ready_path == "/"
    assert config.target.metrics_path is None  # no metrics endpoint unless told
    assert config.scenarios[0].locustfile == "locustfile.py" and config.scenarios[0].user_classes == ("ServiceUser",)
    starter = (tmp_path / "locustfile.py").read_text()
    assert "class ServiceUser(HttpUser)" in starter and 'self.client.get("/")' in starter
    compile(starter, "locustfile.py", "exec")
    text = (tmp_path / "perfgate.toml").read_text()
    for optional in (
        "faults]]",
        "chaos]]",
        "storm = ",
        "monkey = ",
        'database = "mariadb"',
        "env = ",
        "[judge.margins]",
    ):
        assert optional in text, optional  # every key is there, the optional ones commented out
    assert "loadtests" not in text  # nothing of the bundled IM service
    assert "next steps:" in result.stdout and "perfgate run --baseline HEAD~1 --candidate HEAD" in result.stdout


def test_init_keeps_an_existing_locustfile(tmp_path):
    (tmp_path / "load.py").write_text("# mine\n")
    result = run_cli("init", "--command", SERVE, "--locustfile", "load.py", "--user-class", "Shopper", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "load.py").read_text() == "# mine\n"
    assert load_config(directory=tmp_path).scenarios[0].user_classes == ("Shopper",)


ONE_TASK = """
import json, sys
from locust.env import Environment
from locust.util.load_locustfile import load_locustfile

classes, _ = load_locustfile(sys.argv[1])
classes["ServiceUser"].host = sys.argv[2]  # as Locust's runner and perfgate's side classes set it
environment = Environment(user_classes=[classes["ServiceUser"]])
fired = []
environment.events.request.add_listener(
    lambda request_type, name, exception=None, **_: fired.append([request_type, name, exception is None])
)
classes["ServiceUser"](environment).connect()
print(json.dumps(fired))
"""
TCP_SERVE = (
    f"{sys.executable} -c \"import socket; s = socket.create_server(('127.0.0.1', {{port}})); "
    '[s.accept()[0].close() for _ in iter(int, 1)]"'
)


def test_init_for_a_service_that_speaks_no_http(tmp_path):
    """``--ready-probe tcp``: the config probes the port, and the starter locustfile times a TCP connect."""
    result = run_cli("init", "--command", TCP_SERVE, "--ready-probe", "tcp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = load_config(directory=tmp_path)
    assert config.target.ready_probe == "tcp" and config.target.metrics_path is None
    assert "it accepts connections on {port}" in result.stdout
    starter = tmp_path / "locustfile.py"
    assert "class ServiceUser(User)" in starter.read_text()

    # One task of the starter, in a real Locust environment, against a real listener (Locust
    # monkey-patches whatever imports it, so it runs in a subprocess).
    with socket.create_server(("127.0.0.1", 0)) as listener:
        host = f"http://127.0.0.1:{listener.getsockname()[1]}"
        ran = subprocess.run(
            [sys.executable, "-c", ONE_TASK, str(starter), host], capture_output=True, text=True, timeout=60
        )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.splitlines()[-1]) == [["TCP", "connect", True]]


def test_the_demo_config_probes_over_http():
    assert 'ready_probe = "http"' in template()


@pytest.mark.parametrize(
    "args, needle",
    [
        ((), "--command is required without a terminal (or --demo for the IM service)"),
        (("--command", "./serve --port 8080"), "must use {port}"),
    ],
)
def test_init_without_what_it_needs_is_one_line(tmp_path, args, needle):
    result = run_cli("init", *args, cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 3 and len(lines) == 1 and needle in lines[0], result.stderr
    assert not (tmp_path / "perfgate.toml").exists()


@pytest.mark.e2e
@pytest.mark.xdist_group("tiny_gates")
def test_from_init_to_a_verdict_on_a_service_that_is_not_the_im_service(tmp_path):
    repo = git.Repo.init(tmp_path)
    assert run_cli("init", "--command", SERVE, "--ready-path", "/", cwd=tmp_path).returncode == 0
    config = tmp_path / "perfgate.toml"
    config.write_text(
        config.read_text().replace("duration = 10 ", 'duration = "3s" ').replace("users = 12 ", "users = 4 ")
    )
    (tmp_path / ".gitignore").write_text(".perfgate/\nreports/\n")
    repo.git.add(A=True)
    repo.index.commit("perfgate for a static file server")
    (tmp_path / "index.html").write_text("<p>hello</p>\n")
    repo.git.add(A=True)
    repo.index.commit("a page")
    result = run_cli(
        "run", "--baseline", "HEAD~1", "--candidate", "HEAD", "--rounds", "3", "--max-rounds", "3", cwd=tmp_path
    )
    assert result.returncode in (0, 2), result.stderr  # A/A-like: green or yellow, never red
    assert "round 3/3" in result.stdout and "GET /" in result.stdout or "/ " in result.stdout
    assert list((tmp_path / "reports").glob("*.html"))
