"""perfgate.flaky: flip rates, the runs test, rounds and margins a noise level needs, flap groups."""

from __future__ import annotations

import math

import pytest

from perfgate.flaky import flap_groups, flip_rate, margin_needed, rounds_needed, runs_test_z


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
    failures = {
        ("s", "a", "p99"): {"r1", "r2", "r3"},
        ("s", "b", "p99"): {"r1", "r2", "r3", "r4"},
        ("s", "c", "p50"): {"r7", "r8"},
        ("s", "d", "p50"): {"r9"},
    }
    groups = flap_groups(failures)
    assert groups[("s", "a", "p99")] == groups[("s", "b", "p99")]
    assert ("s", "c", "p50") not in groups and ("s", "d", "p50") not in groups


def test_the_flaky_report_reads_cleanly_at_80_columns(tmp_path):
    from perfgate.store.local import LocalStore
    from tests.stored_runs import build_repo, write_run
    from tests.support import run_cli

    config, baseline, candidate = build_repo(tmp_path / "repo")
    store = LocalStore(tmp_path / "repo" / ".perfgate")
    for ratio in (1.0, 1.0, 1.3, 1.0):
        write_run(store, config, baseline, candidate, pairs=3, ratio=ratio)
    result = run_cli("flaky", cwd=tmp_path / "repo", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout and all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "login p50:" in result.stdout and "repeat flips" in result.stdout and "pairs needed" in result.stdout
    wide = run_cli("flaky", cwd=tmp_path / "repo", env={"COLUMNS": "200"})
    assert "metric flapping and noise" in wide.stdout and ("┃" in wide.stdout or "│" in wide.stdout)  # the table
