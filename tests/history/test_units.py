"""Pure parts of history, bisect and flaky: change points snapped to commits, bands, metric specs, noise maths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perfgate.bisect import Watch
from perfgate.errors import ConfigError
from perfgate.flaky import flap_groups, flip_rate, margin_needed, rounds_needed, runs_test_z
from perfgate.history import Point, centre_and_band, find_changes, snap_to_commits
from perfgate.history_templates import _ticks, fmt_value
from perfgate.model import MetricComparison, Revision, State


def points(levels: list[float], rounds: int = 6, noise: float = 0.03, seed: int = 1) -> list[Point]:
    rng = np.random.default_rng(seed)
    out = []
    for k, level in enumerate(levels):
        values = tuple(float(v) for v in level * np.exp(rng.normal(0, noise, rounds)))
        centre, low, high = centre_and_band(values, "p50", 0.95)
        out.append(Point(Revision(f"c{k}", f"{k:040d}", f"commit {k}"), k, values, centre, low, high))
    return out


def test_snap_to_commit_boundaries():
    owners = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert snap_to_commits(3, owners) == 3  # already a boundary
    assert snap_to_commits(4, owners) == 3  # nearer the start of commit 1
    assert snap_to_commits(5, owners) == 6  # nearer its end
    assert snap_to_commits(0, owners) == 0


def test_a_level_shift_is_named_at_its_first_commit():
    series = points([1000, 1000, 1000, 4000, 4000, 4000, 4000])
    changes = find_changes(series, "p50")
    assert [c.revision.label for c in changes] == ["c3"]
    assert 3.5 < changes[0].ratio < 4.5


def test_no_change_point_in_a_flat_series():
    assert find_changes(points([1000] * 8, noise=0.05, seed=3), "p50") == []
    assert find_changes(points([1000]), "p50") == []  # too short to search


def test_two_shifts():
    changes = find_changes(points([1000] * 4 + [2000] * 4 + [500] * 4, noise=0.02), "p50")
    assert [c.position for c in changes] == [4, 8]


def test_band():
    centre, low, high = centre_and_band([100.0, 110.0, 90.0, 105.0], "p95", 0.95)
    assert low < centre < high and 90 < centre < 110
    assert centre_and_band([5.0], "p95", 0.95) == pytest.approx((5.0, 5.0, 5.0))
    centre, low, high = centre_and_band([0.0, 0.01, 0.0], "error_rate", 0.95)  # arithmetic: zeros allowed
    assert math.isclose(centre, 0.01 / 3) and low < 0 < high


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
    return MetricComparison("chat", name, "p50", 1.0, 1.0, 1.0, 0.9, 1.1, 0.5, state, "")


def test_watch_state():
    watch = Watch("p50", "login")
    assert watch.state((comparison("login", State.REGRESSION), comparison("send", State.PASS)))[0] is State.REGRESSION
    assert watch.state((comparison("login", State.IMPROVEMENT), comparison("send", State.REGRESSION)))[0] is State.PASS
    assert watch.state((comparison("send", State.PASS),)) == (State.INCONCLUSIVE, ())
    assert Watch().state((comparison("a", State.PASS), comparison("b", State.INCONCLUSIVE)))[0] is State.INCONCLUSIVE


def test_flip_rate_and_runs_test():
    assert flip_rate(["pass", "regression", "pass", "regression"]) == 1.0
    assert flip_rate(["pass", "pass", "pass"]) == 0.0
    assert math.isnan(flip_rate(["pass"]))
    clustered = [False] * 10 + [True] * 6 + [False] * 10
    alternating = [k % 2 == 0 for k in range(26)]
    assert runs_test_z(clustered) < -3
    assert runs_test_z(alternating) > 3
    assert math.isnan(runs_test_z([True] * 20))


def test_rounds_needed():
    margin = math.log1p(0.05)
    assert rounds_needed(0.0, margin, 0.95) == 2
    small, large = rounds_needed(0.03, margin, 0.95), rounds_needed(0.12, margin, 0.95)
    assert small is not None and large is not None and small < large
    n = large
    from scipy.stats import t

    def reach(k):  # CI half-width plus the point estimate's spread, per the module docstring
        return 2 * t.ppf(0.95, k - 1) * 0.12 / math.sqrt(k)

    assert reach(n) < margin <= reach(n - 1)
    assert rounds_needed(0.12, margin, 0.95, pass_rate=0.5) < n  # the median case needs fewer
    assert rounds_needed(float("nan"), margin, 0.95) is None


@pytest.mark.parametrize("metric", ["p95", "throughput"])
def test_margin_needed_inverts_rounds_needed(metric):
    for sigma in (0.02, 0.08, 0.19):
        margin = margin_needed(metric, sigma, 10, 0.95)
        assert margin is not None and margin_needed(metric, sigma, 10, 0.95, pass_rate=0.5) < margin
        to_threshold = (lambda m: -math.log1p(-m)) if metric == "throughput" else math.log1p
        assert rounds_needed(sigma, to_threshold(margin * 1.001), 0.95) <= 10  # just above: gateable in budget
        assert rounds_needed(sigma, to_threshold(margin * 0.95), 0.95) > 10  # below: not
    assert margin_needed("error_rate", 0.1, 10, 0.95) is None
    assert margin_needed("p50", float("nan"), 10, 0.95) is None


def test_flap_groups():
    failures = {("s", "a", "p99"): {"r1", "r2", "r3"}, ("s", "b", "p99"): {"r1", "r2", "r3", "r4"},
                ("s", "c", "p50"): {"r7", "r8"}, ("s", "d", "p50"): {"r9"}}
    groups = flap_groups(failures)
    assert groups[("s", "a", "p99")] == groups[("s", "b", "p99")]
    assert ("s", "c", "p50") not in groups and ("s", "d", "p50") not in groups


def test_trend_formatting():
    assert fmt_value(1500.0, "p95") == "1.50 ms" and fmt_value(0.02, "error_rate") == "2.00%"
    assert fmt_value(float("nan"), "p95") == "—"
    ticks = _ticks(0.0, 10.0)
    assert ticks[0] == 0.0 and ticks[-1] <= 10.0 and len(ticks) >= 3
