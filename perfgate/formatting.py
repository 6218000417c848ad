"""How numbers read, in every output: terminal, markdown, HTML, JUnit, the trend page and the
judge's reasons. One copy of each rule, so a change reads the same everywhere.

Latencies are stored in microseconds, error rates as fractions, CPU cost in µs per request.
Signed numbers use a real minus sign (U+2212); a value that cannot be shown reads "—".
"""

from __future__ import annotations

import math
import re

from perfgate.model import MetricComparison, Revision

MINUS = "\u2212"
MISSING = "—"
#: The metric column of an absolute limit's row ("p95 limit"): the candidate against a limit.
LIMIT_SUFFIX = " limit"


def _signed(text: str) -> str:
    return text.replace("-", MINUS)


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def is_latency(metric: str) -> bool:
    return metric == "mean" or re.fullmatch(r"p\d+(\.\d+)?", metric) is not None


def metric_unit(metric: str) -> tuple[float, str]:
    """(divisor, unit) for showing a stored value of ``metric``."""
    metric = metric.removesuffix(LIMIT_SUFFIX)
    if is_latency(metric):
        return 1000.0, "ms"
    if metric == "throughput":
        return 1.0, "req/s"
    if metric == "error_rate":
        return 0.01, "%"
    if metric == "rss_peak":
        return float(2**20), "MiB"
    if metric == "cpu_mean":
        return 1.0, "% CPU"
    if metric == "cpu_per_request":
        return 1.0, "µs CPU/req"
    return 1.0, ""


def value_text(value: float | None, metric: str) -> str:
    """A stored value with its unit, three significant digits or so: "1.50 ms", "0.25%"."""
    if value is None or not math.isfinite(value):
        return MISSING
    scale, unit = metric_unit(metric)
    v = value / scale
    if unit == "%":
        return f"{v:.2f}%"
    if abs(v) >= 100:
        text = f"{v:,.0f}"
    elif abs(v) >= 10:
        text = f"{v:.1f}"
    else:
        text = f"{v:.2f}" if abs(v) >= 0.1 or v == 0 else f"{v:.3g}"
    return f"{text} {unit}".strip()


def percent(ratio: float) -> str:
    """A ratio as a signed change: "+1.5%" below 10%, "+18%" from there."""
    if math.isnan(ratio):
        return MISSING
    if math.isinf(ratio):
        return "+∞%" if ratio > 0 else MISSING
    pct = (ratio - 1.0) * 100.0
    return _signed(f"{pct:+.1f}%" if abs(pct) < 9.95 else f"{pct:+.0f}%")


def points(difference: float) -> str:
    """A difference of two rates in percentage points: "+0.12 pp"."""
    if math.isnan(difference):
        return MISSING
    if math.isinf(difference):
        return _signed("+∞ pp" if difference > 0 else "-∞ pp")
    return _signed(f"{difference * 100:+.2f} pp")


def delta_ms(delta_us: float) -> str:
    """A latency difference (µs in) in milliseconds: "+1.20 ms"."""
    return _signed(f"{delta_us / 1000:+.2f} ms") if math.isfinite(delta_us) else MISSING


def share(fraction: float) -> str:
    """An unsigned share: "37%"."""
    return f"{fraction * 100:.0f}%" if math.isfinite(fraction) else MISSING


def request_label(scenario: str, name: str) -> str:
    """A request name with its scenario, readable whatever the name holds: "/feed (chat)",
    never "chat//feed"."""
    return f"{name} ({scenario})"


def is_difference(m: MetricComparison) -> bool:
    """The judge compares error rates as a difference (candidate − baseline, in rate units,
    with ``margin`` an absolute tolerance); every other metric as a ratio."""
    return m.metric == "error_rate"


def change_text(m: MetricComparison) -> str:
    """The change: percent for ratios, percentage points for error rates."""
    if is_difference(m):
        return points(m.candidate - m.baseline) if _finite(m.candidate, m.baseline) else MISSING
    return percent(m.ratio) if _finite(m.ratio) else MISSING


def ci_text(m: MetricComparison) -> str:
    """The change's confidence interval: "+8.0% … +15%"."""
    if not _finite(m.ci_low, m.ci_high):
        return MISSING
    if is_difference(m):
        return f"{points(m.ci_low)} … {points(m.ci_high)}"
    return f"{percent(m.ci_low)} … {percent(m.ci_high)}"


def change_with_ci(m: MetricComparison) -> str:
    """The change and its interval in one cell: "+12% [+8.0%, +15%]"."""
    if not _finite(m.ci_low, m.ci_high):
        return change_text(m)
    if is_difference(m):
        return f"{change_text(m)} [{points(m.ci_low)}, {points(m.ci_high)}]"
    return f"{change_text(m)} [{percent(m.ci_low)}, {percent(m.ci_high)}]"


def margin_text(m: MetricComparison) -> str:
    """The margin the change is judged against: "±5%", "±0.50 pp"; a limit: "≤ 250 ms"."""
    if m.metric.endswith(LIMIT_SUFFIX):
        return f"≤ {value_text(m.baseline, m.metric)}"
    return f"±{m.margin * 100:.2f} pp" if is_difference(m) else f"±{m.margin * 100:g}%"


def p_text(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


#: A repository page perfgate links commits under: an https URL of a host and an owner/name.
_REPOSITORY_URL = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9_.-]+){2}")


def commit_links(repository_url: str, baseline: Revision, candidate: Revision) -> dict[str, str]:
    """Web links for a report: each side's commit, and the compare view between them, where the
    repository's page is known and has the GitHub shape ({} otherwise; a side with uncommitted
    changes gets no commit link, and then there is no compare view)."""
    if not _REPOSITORY_URL.fullmatch(repository_url or ""):
        return {}

    def sha(rev: Revision) -> str:
        return rev.sha if re.fullmatch(r"[0-9a-f]{7,64}", rev.sha) and not rev.dirty else ""

    links = {
        side: f"{repository_url}/commit/{sha(rev)}"
        for side, rev in (("baseline", baseline), ("candidate", candidate))
        if sha(rev)
    }
    if len(links) == 2 and baseline.sha != candidate.sha:
        links["compare"] = f"{repository_url}/compare/{baseline.sha}...{candidate.sha}"
    return links
