"""[load] credentials: each virtual user logs in as one account of a CSV or TOML file, the same
account for the k-th user on each side, and a bad file is one line naming it (never a value)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfgate.config import load_config
from perfgate.credentials import read_accounts
from perfgate.errors import ConfigError
from perfgate.load.runner import LoadSpec, LoadTarget, run_load
from perfgate.model import Side

LOCUSTFILE = """
from locust import HttpUser, constant, task


class Member(HttpUser):
    wait_time = constant(0.05)

    def on_start(self):
        account = self.perfgate_account
        self.client.post("/login", json={"user": account["username"], "password": account["password"],
                                         "team": account.get("team", "")}, name="login")

    @task
    def feed(self):
        self.client.get("/feed", name="feed")
"""


def _server(seen: list[dict[str, str]]) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _ok(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_POST(self) -> None:  # noqa: N802
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self._ok()

        def do_GET(self) -> None:  # noqa: N802
            self._ok()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture
def two_servers() -> Iterator[tuple[list[str], list[list[dict[str, str]]]]]:
    seen: list[list[dict[str, str]]] = [[], []]
    servers = [_server(s) for s in seen]
    yield [f"http://127.0.0.1:{s.server_port}" for s in servers], seen
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.mark.e2e  # real Locust load
def test_the_kth_user_of_each_side_logs_in_as_account_k(two_servers, tmp_path: Path) -> None:
    urls, seen = two_servers
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("username,password,team\nalice,pw-a,red\nbob,pw-b,blue\ncarol,pw-c,red\n")
    (tmp_path / "members.py").write_text(LOCUSTFILE)
    targets = (LoadTarget(Side.BASELINE, urls[0]), LoadTarget(Side.CANDIDATE, urls[1]))
    spec = LoadSpec(str(tmp_path / "members.py"), ("Member",), 4, 20.0, 0.2, 1.0, targets, credentials=str(accounts))
    samples = run_load(spec, tmp_path / "load").samples.to_pandas()
    assert set(samples["name"]) == {"login", "feed"} and samples["ok"].all()
    for side in seen:  # 4 users over 3 accounts: round robin, the same on both sides
        assert sorted(s["user"] for s in side) == ["alice", "alice", "bob", "carol"]
        assert {(s["user"], s["password"], s["team"]) for s in side} == {
            ("alice", "pw-a", "red"),
            ("bob", "pw-b", "blue"),
            ("carol", "pw-c", "red"),
        }


def test_csv_and_toml_read_alike(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("username,password\nalice,pw-a\n")
    (tmp_path / "a.toml").write_text('[[account]]\nusername = "alice"\npassword = "pw-a"\n')
    assert (
        read_accounts(tmp_path / "a.csv")
        == read_accounts(tmp_path / "a.toml")
        == ({"username": "alice", "password": "pw-a"},)
    )


@pytest.mark.parametrize(
    "name, text, line",
    [
        ("a.csv", "user,password\nalice,pw-secret\n", "the header has no 'username' column"),
        ("a.csv", "username,password\nalice,\n", "account 1 has no password"),
        ("a.csv", "username,password\n", "no accounts"),
        ("a.toml", 'account = "alice:pw-secret"\n', "accounts go in [[account]] tables"),
        ("a.toml", "[[account]\n", "not TOML"),
        ("missing.csv", None, "cannot be read"),
    ],
)
def test_a_bad_file_is_one_line_naming_it_and_no_value(tmp_path: Path, name: str, text: str | None, line: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_accounts(path)
    message = str(caught.value)
    assert message.startswith(f"credentials {path}: ") and line in message and "pw-secret" not in message


def test_credentials_are_read_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "perfgate.toml").write_text('[load]\ncredentials = "accounts.csv"\n')
    assert load_config(directory=tmp_path).scenarios[0].credentials == "accounts.csv"


def test_without_credentials_the_config_loads_and_an_empty_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "perfgate.toml").write_text("[load]\nusers = 2\n")
    assert load_config(directory=tmp_path).scenarios[0].credentials == ""
    (tmp_path / "perfgate.toml").write_text('[load]\ncredentials = ""\n')
    with pytest.raises(ConfigError, match=r"\[load\] credentials: must be a non-empty string"):
        load_config(directory=tmp_path)
