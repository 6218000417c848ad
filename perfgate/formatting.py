"""How numbers read, in every output: terminal, markdown, HTML, JUnit, the trend page and the
judge's reasons. One copy of each rule, so a change reads the same everywhere. The judge
returns its reasons and notes as data (:class:`perfgate.model.Reason`, :class:`perfgate.model.Note`);
:func:`reason_text`, :func:`verdict_text` and :func:`note_text` are the only places that turn them
into sentences.

Latencies are stored in microseconds, error rates as fractions, CPU cost in µs per request.
Signed numbers use a real minus sign (U+2212); a value that cannot be shown reads "—".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from perfgate.model import Basis, MetricComparison, Note, NoteKind, Revision, State, Verdict

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


# --- the judge's reasons, in words ------------------------------------------------------------


def reason_text(m: MetricComparison) -> str:
    """A metric's reason in one line, e.g. "regression: p95 login +18% [+12%, +25%] above the +5% margin"."""
    basis = m.why.basis
    if basis is Basis.STORED:
        return m.why.text
    if basis is Basis.CHECK:
        return _check_text(m)
    if basis is Basis.LIMIT:
        return _limit_text(m)
    text = _comparison_text(m)
    if m.why.beside:
        deltas = ", ".join(f"{name} {delta_ms(delta)}" for name, delta in m.why.beside)
        text += f" (scenario {m.scenario}; p50 beside it: {deltas})"
    return text


def _comparison_text(m: MetricComparison) -> str:
    label, why = f"{m.metric} {m.name}", m.why
    after = f"after {m.rounds} rounds"
    if why.need:
        pairs = f"{why.pairs} round pair{'s' * (why.pairs != 1)}"
        return f"inconclusive: {label}: only {pairs} (need {why.need}), never a pass"
    if is_difference(m):
        what = (
            f"{label} {m.baseline:.2%} \u2192 {m.candidate:.2%} ({points(m.candidate - m.baseline)} "
            f"[{points(m.ci_low)}, {points(m.ci_high)}]"
        )
        p = why.fisher_p
        extra = f", Fisher p={p:.2g})" if math.isfinite(p) and p < 1 else ")"
        tolerance = f"the {m.margin * 100:.2f} pp tolerance"
        return {
            State.REGRESSION: f"regression: {what}{extra} above {tolerance}",
            State.IMPROVEMENT: f"improvement: {what}{extra}",
            State.PASS: f"pass: {what}{extra} within {tolerance}",
            State.INCONCLUSIVE: f"inconclusive: {what}{extra} straddles {tolerance} {after}",
        }[m.verdict]
    what = f"{label} {percent(m.ratio)} [{percent(m.ci_low)}, {percent(m.ci_high)}]"
    margin = f"{MINUS if m.higher_is_better else '+'}{m.margin * 100:g}% margin"
    return {
        State.REGRESSION: f"regression: {what} {'below' if m.higher_is_better else 'above'} the {margin}",
        State.IMPROVEMENT: f"improvement: {what}",
        State.PASS: f"pass: {what} within the {margin}",
        State.INCONCLUSIVE: f"inconclusive: {label} {percent(m.ratio)}, CI [{percent(m.ci_low)}, "
        f"{percent(m.ci_high)}] straddles the {margin} {after}",
    }[m.verdict]


def _limit_text(m: MetricComparison) -> str:
    metric = m.metric.removesuffix(LIMIT_SUFFIX)
    if m.why.need:
        return f"inconclusive: {metric} {m.name}: only {m.why.pairs} rounds (need {m.why.need}) against its limit"
    limit = m.baseline  # a limit's row holds the limit where a baseline would be, its CI as fractions of it
    shown = f"{metric} {m.name} {value_text(m.candidate, metric)}"
    if limit:  # (a zero limit has no fractions)
        shown += f" [{value_text(m.ci_low * limit, metric)}, {value_text(m.ci_high * limit, metric)}]"
    where = {State.REGRESSION: "above", State.PASS: "within", State.INCONCLUSIVE: "straddles"}[m.verdict]
    return f"{m.verdict.value}: {shown} {where} the {value_text(limit, metric)} limit"


def _check_text(m: MetricComparison) -> str:
    failed = m.verdict is State.REGRESSION
    if m.metric == "acked_lost":
        return (
            f"regression: {m.candidate:.0f} acknowledged writes lost" if failed else "pass: no acknowledged write lost"
        )
    if m.metric == "went_down":
        instead = "degrading" if m.name == "(redundancy)" else "read-only"
        return f"regression: the service went down instead of {instead}" if failed else "pass: the service stayed up"
    goal = f"goal {(1 - m.margin) * 100:.1f}%"
    if m.metric == "outage_reads_ok":
        ok = f"reads and logins {m.candidate * 100:.1f}% ok during the outage ({goal})"
        return f"regression: {ok}" if failed else "pass: reads and logins kept working"
    if m.metric == "all_down_login_p50_ms":
        hung = f"logins hung while every backend was down (p50 {value_text(m.candidate * 1000, 'p50')})"
        return f"regression: {hung}" if failed else "pass: logins were answered at once while every backend was down"
    if m.metric == "all_down_chat_ok":
        lost = f"logged-in users' chat {m.candidate * 100:.1f}% ok while every backend was down ({goal})"
        return f"regression: {lost}" if failed else "pass: logged-in users kept chatting while every backend was down"
    if m.metric == "all_down_chat_continuity":
        rate = f"chat while every backend was down at {m.candidate * 100:.0f}% of its all-up rate ({goal})"
        return f"regression: {rate}" if failed else f"pass: {rate}"
    if m.metric == "degraded_login_ok":
        ok = f"logins {m.candidate * 100:.1f}% ok while some backends were down ({goal})"
        return f"regression: {ok}" if failed else f"pass: {ok}"
    return f"{m.verdict.value}: {m.metric} {m.name}"


def _is_hard(m: MetricComparison) -> bool:
    """A limit or a hard check: it leads the verdict's reason when it decides."""
    return m.why.basis in (Basis.LIMIT, Basis.CHECK)


def verdict_text(verdict: Verdict) -> str:
    """The verdict in one line, naming the metric(s) that decide it: hard checks and limits
    first, then the comparisons (``verdict.metrics`` are ranked, the deciding ones first)."""
    compared = [m for m in verdict.metrics if not _is_hard(m)]
    if not compared and verdict.state is not State.REGRESSION:
        return "inconclusive: no metric had enough requests to judge"
    scenarios = {m.scenario for m in compared}

    def named(m: MetricComparison) -> str:
        text = reason_text(m).split(": ", 1)[-1]
        return f"{m.scenario}/{text}" if len(scenarios) > 1 and not _is_hard(m) else text  # "storm/p95 /feed …"

    def lead(group: Sequence[MetricComparison]) -> str:
        return named(group[0]) + (f" (and {len(group) - 1} more)" if len(group) > 1 else "")

    if verdict.state is State.PASS:
        return f"pass: all {len(compared)} metrics within their margins; closest: {named(compared[0])}"
    deciding = [m for m in verdict.metrics if m.verdict is verdict.state]
    groups = [g for g in ([m for m in deciding if _is_hard(m)], [m for m in deciding if not _is_hard(m)]) if g]
    return f"{verdict.state.value}: " + "; ".join(lead(g) for g in groups)


def note_text(note: Note) -> str:
    """A verdict's note in words: the one place they are written (the judge writes none)."""
    where = request_label(note.scenario, note.name)
    if note.kind is NoteKind.FEW_REQUESTS:
        return f"{where}: not judged, median {note.requests:g} requests per round (min_count {note.min_count})"
    if note.kind is NoteKind.THIN_TAIL:
        thin = ", ".join(f"{metric} (needs {needed:g})" for metric, needed in note.needs)
        return (
            f"{where}: {thin} not judged with a median {note.requests:g} requests per round; "
            "run longer rounds or more users"
        )
    if note.kind is NoteKind.LOOKS:
        return (
            f"sequential design: looks at {', '.join(map(str, note.looks))} pairs; judged at look "
            f"{'/'.join(map(str, note.judged_at))} of {len(note.looks)}"
        )
    if note.kind is NoteKind.REUSED:
        reused = ", ".join(f"{scenario}: {pairs}" for scenario, pairs in note.reused)
        return f"pairs reused from earlier runs of this comparison on this machine and config ({reused})"
    if note.kind is NoteKind.POOLED:
        return f"pooled {note.pairs} pairs from {len(note.runs)} stored runs: " + ", ".join(note.runs)
    if note.kind is NoteKind.FEW_ROUNDS:
        return f"{note.pairs} round(s): at least {note.min_count} are needed to name an outlier"
    if note.kind is NoteKind.STOPPED:
        return f"no more rounds were run: {note.text}"
    return note.text
