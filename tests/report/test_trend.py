"""perfgate.report.trend: the trend page's value formatting and axis ticks."""

from __future__ import annotations

from perfgate.formatting import value_text as fmt_value
from perfgate.report.trend import _ticks


def test_trend_formatting():
    assert fmt_value(1500.0, "p95") == "1.50 ms" and fmt_value(0.02, "error_rate") == "2.00%"
    assert fmt_value(float("nan"), "p95") == "—"
    ticks = _ticks(0.0, 10.0)
    assert ticks[0] == 0.0 and ticks[-1] <= 10.0 and len(ticks) >= 3
