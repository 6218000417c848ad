"""perfgate.formatting: one way numbers read, in every output."""

import math

from perfgate.formatting import (
    MINUS,
    change_with_ci,
    ci_text,
    delta_ms,
    margin_text,
    percent,
    points,
    request_label,
    value_text,
)
from perfgate.model import MetricComparison, Reason, State


def comparison(metric: str, baseline: float, candidate: float, low: float, high: float, margin: float = 0.05):
    ratio = candidate / baseline if metric != "error_rate" else math.nan
    return MetricComparison(
        "chat", "login", metric, baseline, candidate, ratio, low, high, 0.01, State.PASS, Reason(), margin
    )


def test_values_carry_their_units():
    assert value_text(1500.0, "p95") == "1.50 ms" and value_text(123_456.0, "p50") == "123 ms"
    assert value_text(0.0025, "error_rate") == "0.25%" and value_text(2**21, "rss_peak") == "2.00 MiB"
    assert value_text(812.0, "cpu_per_request") == "812 µs CPU/req" and value_text(math.nan, "p95") == "—"


def test_changes_read_the_same_everywhere():
    assert percent(1.015) == "+1.5%" and percent(1.18) == "+18%" and percent(0.9) == f"{MINUS}10%"
    assert percent(math.nan) == "—" and points(0.0012) == "+0.12 pp" and delta_ms(-1200.0) == f"{MINUS}1.20 ms"
    m = comparison("p95", 100.0, 200.0, 1.89, 2.08)
    assert change_with_ci(m) == "+100% [+89%, +108%]" and ci_text(m) == "+89% … +108%"
    assert margin_text(m) == "±5%" and margin_text(comparison("p95", 1, 1, 1, 1, margin=0.025)) == "±2.5%"
    e = comparison("error_rate", 0.0, 0.002, -0.001, 0.004, margin=0.005)
    assert change_with_ci(e) == f"+0.20 pp [{MINUS}0.10 pp, +0.40 pp]" and margin_text(e) == "±0.50 pp"


def test_a_request_name_reads_cleanly_beside_its_scenario():
    assert request_label("chat", "/feed") == "/feed (chat)"
