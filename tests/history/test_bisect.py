"""perfgate.bisect: the --metric spec a bisection watches, and the state it reads from a comparison."""

from __future__ import annotations

import pytest

from perfgate.bisect import Watch
from perfgate.errors import ConfigError
from perfgate.model import MetricComparison, State


def test_watch_specs():
    assert Watch.parse("p95") == Watch("p95")
    assert Watch.parse("login.p95") == Watch("p95", "login")
    assert Watch.parse("login.p99.9") == Watch("p99.9", "login")
    assert Watch.parse("/api/v1.send.error_rate") == Watch("error_rate", "/api/v1.send")
    assert Watch.parse(None) == Watch()
    for bad in ("login.p97", "", "p97"):
        if bad:
            with pytest.raises(ConfigError, match="--metric"):
                Watch.parse(bad)


def comparison(name: str, state: State) -> MetricComparison:
    return MetricComparison("chat", name, "p50", 1.0, 1.0, 1.0, 0.9, 1.1, 0.5, state)


def test_watch_state():
    watch = Watch("p50", "login")
    assert watch.state((comparison("login", State.REGRESSION), comparison("send", State.PASS)))[0] is State.REGRESSION
    assert watch.state((comparison("login", State.IMPROVEMENT), comparison("send", State.REGRESSION)))[0] is State.PASS
    assert watch.state((comparison("send", State.PASS),)) == (State.INCONCLUSIVE, ())
    assert Watch().state((comparison("a", State.PASS), comparison("b", State.INCONCLUSIVE)))[0] is State.INCONCLUSIVE
