"""The machine- and comment-sized outputs: markdown summary, JUnit XML, JSON.

Numbers read as :mod:`perfgate.formatting` writes them, as in every other output.

JUnit mapping, one ``<testcase>`` per judged metric (classname
``perfgate.<scenario>``, name ``<request> [<metric>]``):

- regression → ``<failure type="regression">``;
- inconclusive → ``<skipped type="inconclusive" message=...>``;
- pass and improvement → a plain test case.

Inconclusive is ``<skipped>``, not a flaky marker, on purpose. ``flakyFailure``
and ``rerunFailure`` are Maven Surefire extensions that mean "failed, then passed
on a re-run": they sit inside a test case that counts as *passed* (Surefire,
Jenkins and GitLab all count it so), and tools that do not know them drop them.
That would show an undecided metric as green, which is what we must not do.
``<skipped>`` is in every JUnit dialect (Ant, Surefire, pytest's xunit2) and every
dashboard counts it apart from the passes, with its message shown. An
inconclusive metric is exactly that: not decided.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from typing import Any

from perfgate.formatting import (
    change_text,
    ci_text,
    commit_links,
    is_difference,
    margin_text,
    note_text,
    p_text,
    reason_text,
    value_text,
    verdict_text,
)
from perfgate.model import Manifest, MetricComparison, State, Verdict

#: Markdown summaries are capped well below GitHub's 65,536-character comment limit.
MARKDOWN_LIMIT = 50_000
MARKDOWN_MAX_ROWS = 60
_RANK = {State.REGRESSION: 0, State.INCONCLUSIVE: 1, State.IMPROVEMENT: 2, State.PASS: 3}
ICONS = {State.REGRESSION: "🔴", State.INCONCLUSIVE: "🟡", State.IMPROVEMENT: "🟢", State.PASS: "🟢"}
_XML_BAD = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --- ordering -----------------------------------------------------------------------


def change_key(m: MetricComparison) -> float:
    """A sort key for the change, in percent (ratios) or percentage points (error rates)."""
    value = (m.candidate - m.baseline) if is_difference(m) else (m.ratio - 1)
    return value * 100 if math.isfinite(value) else math.nan


def effect_size(m: MetricComparison) -> float:
    """How far the change goes, in margins, comparable across metrics."""
    change = (m.candidate - m.baseline) if is_difference(m) else (m.ratio - 1)
    if not math.isfinite(change):
        return 0.0
    return abs(change) / m.margin if m.margin > 0 else abs(change)


def order_metrics(metrics: Iterable[MetricComparison]) -> list[MetricComparison]:
    """Regressions first, then inconclusive, improvements, passes; larger effects first."""

    def key(m: MetricComparison) -> tuple[int, float, str, str, str]:
        return (_RANK.get(m.verdict, 9), -effect_size(m), m.scenario, m.name, m.metric)

    return sorted(metrics, key=key)


def flagged(metrics: Iterable[MetricComparison]) -> list[MetricComparison]:
    return [m for m in order_metrics(metrics) if m.verdict in (State.REGRESSION, State.INCONCLUSIVE)]


def counts(metrics: Sequence[MetricComparison]) -> dict[str, int]:
    out = {s.value: 0 for s in (State.REGRESSION, State.INCONCLUSIVE, State.IMPROVEMENT, State.PASS)}
    for m in metrics:
        out[m.verdict.value] += 1
    return out


def one_line(text: Any, limit: int) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- markdown -----------------------------------------------------------------------


def md(text: Any, limit: int = 120) -> str:
    """Plain text that GitHub markdown shows verbatim, on one line, in a table cell."""
    line = one_line(text, limit)
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    line = re.sub(r"([\\`*_\[\]|~$])", r"\\\1", line)  # "$" would start math on GitHub
    if line[:1] in ("#", ">", "-", "+", "="):
        line = "\\" + line  # would start a heading, quote or list at the start of a line
    return line.replace("@", "@\u200b")  # no @mentions from commit subjects or request names


def _revision_md(rev: Any, link: str = "") -> str:
    if not rev.sha:  # a live deployment: its label, and its URL in the subject
        return f"{md(rev.label, 60)} “{md(rev.subject, 90)}”" if rev.subject else md(rev.label, 60)
    sha = re.sub(r"[^0-9A-Za-z]", "", rev.sha)[:10] or "?"
    dirty = " +dirty" if rev.dirty else ""
    subject = f" “{md(rev.subject, 90)}”" if rev.subject else ""
    code = f"[`{sha}`]({link})" if link else f"`{sha}`"
    return f"{md(rev.label, 60)} {code}{dirty}{subject}"


def markdown_summary(
    verdict: Verdict,
    manifest: Manifest | None,
    report_link: str,
    *,
    limit: int = MARKDOWN_LIMIT,
    max_rows: int = MARKDOWN_MAX_ROWS,
) -> str:
    """A pull-request comment: verdict, flagged metrics with CIs, link to the report.

    However many metrics there are, the result stays under ``limit`` characters;
    rows that do not fit are counted in an "omitted" line.
    """
    confidence = manifest.config.get("judge", {}).get("confidence", 0.95) if manifest else 0.95
    design = manifest.design if manifest else ""
    links = commit_links(manifest.repository_url, verdict.baseline, verdict.candidate) if manifest else {}
    c = counts(verdict.metrics)
    head = [
        f"### {ICONS.get(verdict.state, '')} perfgate: **{verdict.state.value}**",
        "",
        f"> {md(verdict_text(verdict), 400)}",
        "",
        f"Candidate {_revision_md(verdict.candidate, links.get('candidate', ''))} vs baseline "
        f"{_revision_md(verdict.baseline, links.get('baseline', ''))}"
        + (f" · [compare]({links['compare']})" if "compare" in links else ""),
        "",
        f"{verdict.rounds} rounds ({verdict.confirmation_rounds} confirmation, "
        f"{verdict.invalid_rounds} invalid) · design {md(design or '?', 20)} · "
        f"{len(verdict.metrics)} metrics judged: {c['regression']} regression, "
        f"{c['inconclusive']} inconclusive, {c['improvement']} improvement, {c['pass']} pass",
    ]
    for note in list(verdict.notes)[:5]:
        head.append(f"- ⚠️ {md(note_text(note), 300)}")
    link = report_link if re.match(r"https?://\S+$", report_link) and len(report_link) <= 2000 else None
    tail = [
        "",
        f"📄 Full report: [{md(report_link, 200)}]({link})"
        if link
        else f"📄 Full report: `{one_line(report_link, 300).replace('`', '')}`",
    ]
    level = f"{confidence:.0%}" if isinstance(confidence, (int, float)) else "95%"
    header = [
        f"| | scenario | request | metric | baseline | candidate | change ({level} CI) | p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    budget = limit - sum(len(x) + 1 for x in head + header * 2 + tail) - 300
    rows = flagged(verdict.metrics)
    table: list[str] = ["", "No metric regressed or was left inconclusive."]
    if rows:
        shown, budget = _rows_within(rows, budget, max_rows)
        table = ["", *header, *shown]
        if len(shown) < len(rows):
            omitted = len(rows) - len(shown)
            table += ["", f"_…and {omitted} more flagged metric{'s' * (omitted != 1)} not shown; see the full report._"]
    passing = [m for m in order_metrics(verdict.metrics) if m.verdict in (State.PASS, State.IMPROVEMENT)]
    if passing:  # collapsed, so a reviewer sees what passed without scrolling past it
        shown, budget = _rows_within(passing, budget, max_rows)
        more = f" ({len(passing) - len(shown)} more in the full report)" if len(shown) < len(passing) else ""
        table += ["", f"<details><summary>{len(passing)} passing metrics{more}</summary>", "", *header, *shown]
        table += ["", "</details>"]
    text = "\n".join(head + table + tail) + "\n"
    if len(text) > limit:  # every part above is bounded; this is a last guard
        text = text[: limit - 2] + "…\n"
    return text


def _rows_within(metrics: list[MetricComparison], budget: int, max_rows: int) -> tuple[list[str], int]:
    """Table rows for ``metrics``, at most ``max_rows`` and ``budget`` characters; the budget left."""
    rows: list[str] = []
    for m in metrics[:max_rows]:
        row = (
            f"| {ICONS[m.verdict]} | {md(m.scenario, 40)} | {md(m.name, 80)} | {md(m.metric, 20)} | "
            f"{value_text(m.baseline, m.metric)} | {value_text(m.candidate, m.metric)} | "
            f"{change_text(m)} ({ci_text(m)}) | {p_text(m.p_value)} |"
        )
        if len(row) + 1 > budget:
            break
        rows.append(row)
        budget -= len(row) + 1
    return rows, budget


# --- JUnit --------------------------------------------------------------------------


def xml_text(value: Any, limit: int = 2000) -> str:
    text = _XML_BAD.sub("\ufffd", str(value if value is not None else ""))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(m: MetricComparison) -> str:
    return (
        f"{m.metric} of {m.name}: baseline {value_text(m.baseline, m.metric)}, candidate "
        f"{value_text(m.candidate, m.metric)}, change {change_text(m)} "
        f"(CI {ci_text(m)}), p={p_text(m.p_value)}, margin {margin_text(m)}, "
        f"{m.rounds} rounds. {reason_text(m)}"
    )


def junit_xml(
    verdict: Verdict, *, report_path: str | None = None, duration_s: float = 0.0, timestamp: str = ""
) -> bytes:
    """JUnit XML with one test case per judged metric, grouped by scenario."""
    root = ET.Element("testsuites", name="perfgate")
    by_scenario: dict[str, list[MetricComparison]] = {}
    for m in verdict.metrics:
        by_scenario.setdefault(m.scenario, []).append(m)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for scenario, metrics in by_scenario.items() or [("(none)", [])]:
        suite = ET.SubElement(root, "testsuite", name=xml_text(f"perfgate.{scenario}", 300))
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("run_id", verdict.run_id),
            ("verdict", verdict.state.value),
            ("baseline", f"{verdict.baseline.label} {verdict.baseline.sha}"),
            ("candidate", f"{verdict.candidate.label} {verdict.candidate.sha}"),
            ("report", report_path or ""),
        ):
            ET.SubElement(props, "property", name=key, value=xml_text(value, 500))
        failures = skipped = 0
        cases = metrics or []
        for m in cases:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=xml_text(f"perfgate.{m.scenario}", 300),
                name=xml_text(f"{m.name} [{m.metric}]", 500),
                time="0",
            )
            text = xml_text(_describe(m))
            if m.verdict == State.REGRESSION:
                failures += 1
                node = ET.SubElement(
                    case,
                    "failure",
                    type="regression",
                    message=xml_text(f"regression: {change_text(m)} (CI {ci_text(m)}) {reason_text(m)}", 500),
                )
                node.text = text
            elif m.verdict == State.INCONCLUSIVE:
                skipped += 1
                node = ET.SubElement(
                    case,
                    "skipped",
                    type="inconclusive",
                    message=xml_text(f"inconclusive: {change_text(m)} (CI {ci_text(m)}) {reason_text(m)}", 500),
                )
                node.text = text
            else:
                ET.SubElement(case, "system-out").text = text
        count = len(cases)
        if not cases:
            # Nothing judged: one case carries the overall verdict so it is never lost.
            case = ET.SubElement(suite, "testcase", classname="perfgate", name="verdict", time="0")
            message = xml_text(f"{verdict.state.value}: {verdict_text(verdict)}", 500)
            if verdict.state == State.REGRESSION:
                failures += 1
                ET.SubElement(case, "failure", type="regression", message=message)
            elif verdict.state == State.INCONCLUSIVE:
                skipped += 1
                ET.SubElement(case, "skipped", type="inconclusive", message=message)
            count = 1
        suite.set("tests", str(count))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        suite.set("time", f"{duration_s:.3f}")
        if timestamp:
            suite.set("timestamp", xml_text(timestamp, 40))
        totals["tests"] += count
        totals["failures"] += failures
        totals["skipped"] += skipped
    for key, total in totals.items():
        root.set(key, str(total))
    root.set("errors", "0")
    root.set("time", f"{duration_s:.3f}")
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
