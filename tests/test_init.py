"""``perfgate init`` for your own service: a config for it, a starter locustfile, next steps."""

from __future__ import annotations

import sys

import git
import pytest

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
