"""Generated input never crashes perfgate: config documents load or give a ConfigError; the
proxy's Toxiproxy API answers generated JSON with a 2xx or a 4xx JSON body, never a 500."""

from __future__ import annotations

import contextlib
import json
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfgate.config import load_config, parse_config
from perfgate.errors import ConfigError
from perfgate.faults import ProxyThread
from perfgate.faults.api import start_api
from perfgate.faults.round import plan_faults
from tests.tomlwrite import dumps

FUZZ = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: Keys perfgate knows, so that generated documents get past "unknown key" and reach the values.
KEYS = [
    "target",
    "load",
    "scenarios",
    "rounds",
    "judge",
    "store",
    "report",
    "command",
    "ready_timeout",
    "port",
    "env",
    "locustfile",
    "user_classes",
    "users",
    "duration",
    "warmup",
    "workers",
    "faults",
    "chaos",
    "monkey",
    "storm",
    "count",
    "max",
    "seed",
    "margin",
    "margins",
    "confidence",
    "metrics",
    "min_count",
    "path",
    "dir",
    "at",
    "for",
    "link",
    "toxic",
    "latency",
    "mean_interval",
    "mix",
    "stall",
    "stall_ms",
    "logins",
    "action",
    "login.p99.9",
    "p95",
    "chat",
]
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(KEYS),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))


def values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
        max_leaves=12,
    )


documents = st.dictionaries(st.sampled_from(KEYS[:7]), st.dictionaries(keys, values(scalars), max_size=5), max_size=5)


def check_config(raw: dict[str, Any], path: Path) -> None:
    try:
        config = parse_config(raw, path)
        for scenario in config.scenarios:
            plan_faults(scenario)  # faults, monkey and chaos are validated at plan time
    except ConfigError:
        pass  # the CLI prints it as one line (whitespace in a generated key is folded there)


@FUZZ
@given(documents)
def test_generated_config_documents_load_or_give_a_config_error(tmp_path: Path, doc: dict[str, Any]) -> None:
    text = dumps(doc)
    raw = tomllib.loads(text)  # the writer's output is TOML
    check_config(raw, tmp_path / "perfgate.toml")
    path = tmp_path / "perfgate.toml"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(ConfigError):
        load_config(path)


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    thread = ProxyThread().start()
    runner, port = thread.call(start_api(thread.server, "127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        thread.call(runner.cleanup())
        thread.stop()


def post(base: str, path: str, body: bytes, method: str = "POST") -> tuple[int, Any]:
    req = urllib.request.Request(
        base + path,
        data=body,
        method=method,
        headers={"Content-Type": "application/json", "User-Agent": "perfgate-fuzz"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, (json.loads(raw) if raw else None)


API_KEYS = [
    "name",
    "type",
    "stream",
    "toxicity",
    "toxicity_mode",
    "attributes",
    "latency",
    "jitter",
    "rate",
    "timeout",
    "duration",
    "enabled",
    "listen",
    "upstream",
]
#: Listen addresses that never bind a port in use or look a name up (no DNS, no port clash).
addresses = st.one_of(
    st.just("127.0.0.1:0"),
    st.text(max_size=10),
    st.builds(
        lambda port: f"127.0.0.1:{port}",
        st.one_of(
            st.text(alphabet="0123456789١٢٣٠ -+", min_size=1, max_size=7).filter(
                lambda p: not p.isascii() or not p.isdigit() or int(p) == 0 or int(p) > 65535
            )
        ),
    ),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["latency", "stall", "upstream", "downstream", "chunk", "Infinity", "١٢٣"]),
)
bodies = st.dictionaries(st.sampled_from(API_KEYS), st.one_of(values(json_scalars), addresses), max_size=6)
raw_extras = st.sampled_from(
    [
        b"",
        b"{",
        b"NaN",
        b'{"attributes": {"latency": Infinity}}',
        b"1e400",
        b"\xff",
        b'{"toxicity": -Infinity}',
        b"[" * 50,
    ]
)
ROUTES = ["/proxies", "/proxies/fz/toxics", "/proxies/fz", "/proxies/fz/toxics/fuzzed", "/populate"]


@FUZZ
@given(
    route=st.sampled_from(ROUTES),
    body=st.one_of(bodies, st.lists(bodies, max_size=3)),
    raw=raw_extras,
    use_raw=st.booleans(),
)
def test_generated_json_gets_a_json_answer_never_a_500(
    api: str, route: str, body: Any, raw: bytes, use_raw: bool
) -> None:
    post(api, "/proxies", b'{"name": "fz", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}')
    post(api, "/proxies/fz/toxics", b'{"name": "fuzzed", "type": "latency"}')
    data = raw if use_raw else json.dumps(body).encode()
    status, answer = post(api, route, data)
    assert status < 500, (route, data, answer)
    if status >= 400:
        assert isinstance(answer, dict) and answer["status"] == status and isinstance(answer["error"], str)
    if route == "/proxies" and status < 300:  # keep the server small: one proxy per example at most
        name = answer["name"]
        if name != "fz":
            post(api, "/proxies/" + urllib.request.quote(name, safe=""), b"", method="DELETE")
