"""Bad input is one line and exit 3, checked before anything starts; crashes are exit 3, not "regression".

Every case drives the real CLI in a subprocess, in a real git repository whose target
command only leaves a marker file: a case that got past validation would start it (and
fail later with another message), so "no marker" proves nothing was started.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from perfgate.config import parse_config
from perfgate.errors import ConfigError
from perfgate.faults import ProxyThread
from perfgate.faults.api import start_api
from perfgate.judge.names import check_metric_names
from tests.support import TEST_TAG, live_processes, make_repo, run_cli
from tests.tomlwrite import dumps

LOCUSTFILE = """\
from locust import HttpUser, constant, task


class Quick(HttpUser):
    wait_time = constant(0.05)

    @task
    def login(self):
        self.client.get("/", name="/login")
"""
NAN, INF = float("nan"), float("inf")
#: Every case fails in well under this; a case that measured would run 60 s rounds.
FAST_S = 45.0


def base_config(marker: Path) -> dict[str, Any]:
    return {
        "target": {"command": f"{{python}} -c \"open(r'{marker}', 'w')\"", "ready_timeout": 5},
        "load": {
            "locustfile": "locustfile.py",
            "user_classes": ["Quick"],
            "users": 1,
            "spawn_rate": 1,
            "warmup": 0,
            "duration": 60,
        },
        "rounds": {"count": 2, "max": 2},
    }


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    needle: str  # a fragment of the one line
    config: dict[str, Any] = field(default_factory=dict)  # merged into base_config


def fault(**attrs: Any) -> dict[str, Any]:
    return {"scenarios": {"chat": {"faults": [{"at": 1, "for": 1, "link": "target", "toxic": "latency", **attrs}]}}}


def monkey(**keys: Any) -> dict[str, Any]:
    return {"scenarios": {"chat": {"monkey": {"seed": 1, **keys}}}}


CASES = [
    # numeric options of the gate commands, before anything starts
    Case("margin-negative", ("run", "--margin", "-0.5"), "--margin: must be a number between 0 and 10, not -0.5"),
    Case("margin-nan", ("run", "--margin", "nan"), "--margin: must be a number between 0 and 10, not nan"),
    Case("margin-minus-one", ("run", "--margin", "-1"), "--margin: must be a number between 0 and 10, not -1"),
    Case("margin-inf", ("run", "--margin", "inf"), "--margin: must be a number between 0 and 10, not inf"),
    Case("rounds-huge", ("run", "--rounds", "100000"), "--rounds: must be a number between 2 and 1000"),
    Case("max-rounds-one", ("run", "--max-rounds", "1"), "--max-rounds: must be a number between 2 and 10000"),
    Case("workers-negative", ("run", "--workers", "-1"), "--workers: must be a number between 0 and 64"),
    Case("ci-margin-nan", ("ci", "--base", "HEAD~1", "--margin", "nan"), "--margin: must be a number"),
    Case("compare-margin-nan", ("compare", "latest", "--margin", "nan"), "--margin: must be a number"),
    Case("backfill-limit-negative", ("backfill", "HEAD~1..HEAD", "--limit", "-3"), "--limit: must be a number at"),
    Case("backfill-limit-zero", ("backfill", "HEAD~1..HEAD", "--limit", "0"), "--limit: must be a number at least 1"),
    Case(
        "infra-minutes-negative",
        ("infra", "plan", "--backend", "local", "--minutes", "-5"),
        "--minutes: must be a number at least 1",
    ),
    Case("history-penalty-inf", ("history", "--penalty", "inf"), "--penalty: must be a positive number"),
    Case("proxy-port", ("proxy", "serve", "--port", "70000"), "--port: must be a number between 0 and 65535"),
    # config numbers: NaN and inf anywhere
    Case("config-margin-nan", ("run",), "[judge] margin: must be a finite number, not nan", {"judge": {"margin": NAN}}),
    Case(
        "config-margins-inf",
        ("run",),
        "[judge.margins] p99: must be a finite number",
        {"judge": {"margins": {"p99": INF}}},
    ),
    Case(
        "config-confidence-nan", ("run",), "[judge] confidence: must be a finite number", {"judge": {"confidence": NAN}}
    ),
    Case("config-duration-inf", ("run",), "[load] duration: must be a finite number", {"load": {"duration": INF}}),
    Case(
        "config-ready-timeout-nan",
        ("run",),
        "[target] ready_timeout: must be a finite number",
        {"target": {"ready_timeout": NAN}},
    ),
    Case(
        "config-storm-nan",
        ("run",),
        "[scenarios.chat.storm] logins: must be a finite number",
        {"scenarios": {"chat": {"storm": {"logins": NAN}}}},
    ),
    Case("config-command-int", ("run",), "[load] command: must be a string, not 5", {"load": {"command": 5}}),
    Case(
        "fault-attribute-inf",
        ("run",),
        "scenarios.chat.faults[0]: latency toxic: attribute 'latency' must be",
        fault(latency=INF),
    ),
    Case("fault-attribute-nan", ("run",), "attribute 'latency' must be an integer", fault(latency=NAN)),
    Case("fault-at-nan", ("run",), "scenarios.chat.faults[0]: 'at' must be", fault(at=NAN)),
    Case("monkey-seed-string", ("run",), "scenarios.chat.monkey.seed: must be an integer, got 'x'", monkey(seed="x")),
    Case(
        "monkey-interval-inf",
        ("run",),
        "scenarios.chat.monkey: 'mean_interval' must be a finite duration",
        monkey(mean_interval=INF),
    ),
    Case(
        "monkey-duration-nan",
        ("run",),
        "scenarios.chat.monkey: 'duration' must be a finite duration",
        monkey(duration=NAN),
    ),
    Case(
        "monkey-mix-weight-inf",
        ("run",),
        "monkey mix: weight 'stall' must be a finite number",
        monkey(mix={"stall": INF}),
    ),
    Case(
        "monkey-mix-range-inf", ("run",), "monkey mix: 'stall_ms' must be a range", monkey(mix={"stall_ms": [0, INF]})
    ),
    Case("monkey-mix-range-scalar", ("run",), "monkey mix: 'spike_ms' must be a range", monkey(mix={"spike_ms": 5})),
    Case(
        "chaos-at-huge",
        ("run",),
        "scenarios.chat.chaos[0].at: must be a number",
        {"scenarios": {"chat": {"chaos": [{"at": 10**400, "action": "kill"}]}}},
    ),
    Case(
        "margins-unknown-metric",
        ("run",),
        "[judge.margins] login.p42: unknown metric",
        {"judge": {"margins": {"login.p42": 0.1}}},
    ),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad-input") / "repo"
    make_repo(path, [{"locustfile.py": LOCUSTFILE, "message": "one"}, {"a.txt": "2", "message": "two"}])
    return path


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("perfgate: error: ") and lines[0].count("perfgate: error:") == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_exit_3_before_anything_starts(case: Case, repo: Path) -> None:
    marker = repo.parent / f"started-{case.id}"
    config = repo / f"{case.id}.toml"  # its folder is the root of relative paths: the locustfile
    config.write_text(dumps(merged(base_config(marker), case.config)))
    argv = case.argv if case.argv[0] in ("compare", "proxy", "infra") else (*case.argv, "--config", str(config))
    if case.argv[0] == "compare":
        argv = (*case.argv, "--store", str(repo / ".perfgate"))
    started = time.monotonic()
    result = run_cli(*argv, cwd=repo, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert case.needle in one_line(result.stderr)
    assert elapsed < FAST_S
    assert not marker.exists(), "the target was started"
    assert not live_processes(("perfgate.load", str(repo)), "PERFGATE_TEST_TAG", TEST_TAG)


# --- item 8: exit codes of crashes and of OS errors -----------------------------


def nul_store_repo(tmp_path: Path) -> Path:
    """A store path with a NUL byte: os calls raise ValueError, an exception perfgate does not expect."""
    repo = tmp_path / "repo"
    make_repo(repo, [{"perfgate.toml": '[store]\npath = "a\\u0000b"\n'}])
    return repo


def test_an_unexpected_exception_is_exit_3_with_one_line(tmp_path: Path) -> None:
    result = run_cli("history", cwd=nul_store_repo(tmp_path), timeout=120)
    assert result.returncode == 3  # was 1: "regression", which blocks a pre-push
    line = one_line(result.stderr)
    assert line == (
        "perfgate: error: internal error: ValueError: embedded null byte (rerun with --debug for the traceback)"
    )


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_prints_the_traceback(tmp_path: Path, where: str) -> None:
    argv = ("--debug", "history") if where == "before" else ("history", "--debug")
    result = run_cli(*argv, cwd=nul_store_repo(tmp_path), timeout=120)
    assert result.returncode == 3
    assert "Traceback (most recent call last)" in result.stderr and "ValueError: embedded null byte" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("perfgate: error: internal error: ValueError")


def test_argparse_errors_say_perfgate_error_once(tmp_path: Path) -> None:
    line = one_line(run_cli("run", "--rounds", "many", cwd=tmp_path).stderr)
    assert line == "perfgate: error: run: argument --rounds: invalid int value: 'many'"
    assert one_line(run_cli("--frob", cwd=tmp_path).stderr) == "perfgate: error: unrecognized arguments: --frob"


def test_a_store_that_cannot_be_written_is_one_line_naming_the_path(repo: Path) -> None:
    """Root ignores chmod, so the store's runs/ folder points into /sys, where even root cannot create."""
    store = repo.parent / "unwritable-store"
    (store / "runs").mkdir(parents=True, exist_ok=True)
    run_cli("compare", "latest", "--store", str(store), cwd=repo, timeout=120)  # creates index.sqlite
    (store / "runs").rmdir()
    (store / "runs").symlink_to("/sys")
    marker = repo.parent / "started-unwritable"
    config = repo / "unwritable.toml"
    config.write_text(dumps(merged(base_config(marker), {"store": {"path": str(store)}})))
    result = run_cli("run", "--config", str(config), cwd=repo, timeout=120)
    assert result.returncode == 3, result.stderr  # was 1 with a traceback
    line = one_line(result.stderr)
    assert f"cannot write or read {store}/runs/" in line and "Operation not permitted" in line
    assert not marker.exists()


# --- metric specs --------------------------------------------------------------


def test_margins_of_a_metric_with_a_dot_are_accepted() -> None:
    config = parse_config({"judge": {"margins": {"login.p99.9": 0.2, "p99.9": 0.1}}}, Path("/x/perfgate.toml"))
    assert config.judge.margin_for("login", "p99.9") == 0.2
    assert config.judge.margin_for("other", "p99.9") == 0.1


@pytest.mark.parametrize(
    "specs, ok",
    [
        (["p50", "/login.p50", "/login.p99.9", "error_rate"], True),
        (["login.p50"], False),
        (["/logout.p95"], False),
    ],
)
def test_check_metric_names(specs: list[str], ok: bool) -> None:
    if ok:
        check_metric_names(specs, ["/login", "/chat"])
        return
    with pytest.raises(ConfigError) as err:
        check_metric_names(specs, ["/login", "/chat"], where="--metric")
    assert str(err.value) == f"--metric: {specs[0]!r} names no request of the scenario (names seen: '/chat', '/login')"


# --- the proxy's Toxiproxy API ---------------------------------------------------


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    thread = ProxyThread().start()
    runner, port = thread.call(start_api(thread.server, "127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        thread.call(runner.cleanup())
        thread.stop()


def call(base: str, method: str, path: str, raw: str) -> tuple[int, Any]:
    req = urllib.request.Request(
        base + path,
        data=raw.encode(),
        method=method,
        headers={"Content-Type": "application/json", "User-Agent": "perfgate-tests"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    return status, json.loads(body)  # always JSON: never aiohttp's plain-text traceback page


API_CASES = [
    ("/proxies/api/toxics", '{"type": "latency", "attributes": {"latency": Infinity}}', "Infinity"),
    ("/proxies/api/toxics", '{"type": "latency", "attributes": {"latency": NaN}}', "NaN"),
    ("/proxies/api/toxics", '{"type": "latency", "attributes": {"latency": 1e400}}', "out of range"),
    ("/proxies/api/toxics", '{"type": "latency", "attributes": {"latency": 1e300}}', "must be an integer"),
    ("/proxies/api/toxics", '{"type": "latency", "toxicity": -Infinity}', "Infinity"),
    (
        "/proxies",
        '{"name": "b", "listen": "127.0.0.1:\u0661\u0662\u0663", "upstream": "127.0.0.1:9"}',
        "listen must be host:port",
    ),
    (
        "/proxies",
        '{"name": "c", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:\u0661\u0662"}',
        "upstream must be host:port",
    ),
    ("/proxies/api", '{"listen": "127.0.0.1:\u0660"}', "listen must be host:port"),
    (
        "/populate",
        '[{"name": "e", "listen": "127.0.0.1:\u0660", "upstream": "127.0.0.1:9"}]',
        "listen must be host:port",
    ),
    ("/populate", '[{"name": ["x"], "upstream": "127.0.0.1:9"}]', "name must be a str"),
    ("/populate", '[{"name": "f", "upstream": 5}]', "upstream must be a str"),
]


@pytest.mark.parametrize("path, raw, needle", API_CASES, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(API_CASES)])
def test_proxy_api_bad_input_is_400_with_json(api: str, path: str, raw: str, needle: str) -> None:
    if path.startswith("/proxies/api"):
        call(api, "POST", "/proxies", '{"name": "api", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}')
    status, body = call(api, "POST", path, raw)
    assert status == 400, body
    assert body["status"] == 400 and needle in body["error"]


@pytest.mark.e2e  # a real gate: a target and a round of real Locust load
def test_a_margin_naming_no_request_stops_the_gate_after_the_first_round(repo: Path) -> None:
    """The requests are named "/login": a margin for "login.p50" would silently judge nothing."""
    config = repo / "names.toml"
    config.write_text(
        dumps(
            {
                "target": {"command": "{python} -m http.server {port} --bind 127.0.0.1", "ready_path": "/"},
                "load": {
                    "locustfile": "locustfile.py",
                    "user_classes": ["Quick"],
                    "users": 2,
                    "spawn_rate": 2,
                    "warmup": 0,
                    "duration": 1,
                },
                "rounds": {"count": 3, "max": 3},
                "judge": {"margins": {"login.p50": 0.1}},
                "store": {"path": str(repo.parent / "names-store")},
            }
        )
    )
    result = run_cli("run", "--candidate", "HEAD", "--config", str(config), cwd=repo, timeout=300)
    line = one_line(result.stderr)
    assert result.returncode == 3
    assert "[judge]: 'login.p50' names no request of the scenario (names seen: '(target)', '/login')" in line
    rounds = list((repo.parent / "names-store" / "runs").glob("*/rounds/*.json"))
    assert len(rounds) == 1  # stopped right after the first round, not after the whole gate
    assert not live_processes(("http.server", "perfgate.load"), "PERFGATE_TEST_TAG", TEST_TAG)
