"""The report stage, on runs written through the real store API (no mocks)."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from markupsafe import escape
from rich.console import Console

import perfgate.report
from perfgate import codec
from perfgate.codec import manifest_from_dict
from perfgate.commands import report as report_command
from perfgate.errors import PerfgateError, StoreError
from perfgate.formatting import verdict_text
from perfgate.model import SCHEMA_VERSION, Basis, Design, Note, NoteKind, Reason, State
from perfgate.outcome import Outcome
from perfgate.report import ReportPaths, write_reports
from perfgate.report.summary import MARKDOWN_LIMIT, markdown_summary
from perfgate.store.local import LocalStore
from tests.report.report_synth import HOSTILE, SynthSpec, build_run, manifest_for


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of <script> elements."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


@pytest.fixture(scope="session")
def small_reports(small_run):
    store, run_id, verdict, root = small_run
    out = root / "out"
    paths = write_reports(
        store, run_id, out, markdown=out / "summary.md", junit=out / "junit.xml", json_path=out / "verdict.json"
    )
    return paths, verdict


def test_public_api_is_complete():
    assert set(perfgate.report.__all__) == {
        "ReportPaths",
        "junit_xml",
        "load_run",
        "markdown_summary",
        "render_html",
        "write_reports",
    }
    for name in perfgate.report.__all__:
        assert getattr(perfgate.report, name) is not None


def test_write_reports_writes_every_output(small_reports, small_run):
    paths, verdict = small_reports
    run_id = small_run[1]
    assert isinstance(paths, ReportPaths)
    assert paths.html.name == f"{run_id}.html"
    for path in (paths.html, paths.markdown, paths.junit, paths.json):
        assert path.is_file() and path.stat().st_size > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        paths.html = None  # type: ignore[misc]


def test_only_html_when_nothing_else_is_asked(quiet_run, tmp_path):
    store, run_id, _, _ = quiet_run
    paths = write_reports(store, run_id, tmp_path)
    assert paths.html.is_file() and paths.markdown is paths.junit is paths.json is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{run_id}.html"]


def test_html_is_self_contained(small_reports):
    html = small_reports[0].html.read_text(encoding="utf-8")
    tags = _parse(html).tags
    for tag, attrs in tags:
        assert tag not in ("link", "iframe", "object", "embed", "img", "base"), tag
        for key in ("src", "href"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith("#"), (tag, key, value)
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html)
    assert not re.search(r"@import", html)
    csp = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "unsafe-inline" not in csp[0].split("script-src")[1]


def test_html_has_banner_tables_plots_and_context(small_reports, small_run):
    paths, verdict = small_reports
    store, run_id, _, _ = small_run
    html = paths.html.read_text(encoding="utf-8")
    tags = _parse(html).tags
    banner = [a for t, a in tags if t == "header" and a.get("id") == "verdict"]
    assert banner and banner[0]["data-state"] == verdict.state.value
    # the banner comes before anything else in the body
    assert html.index('id="verdict"') < html.index("<main>")
    assert verdict_text(verdict) in html
    # one row per judged metric, regressions first
    rows = re.findall(r'<tr class="v-(\w+)" data-verdict="(\w+)">', html)
    assert len(rows) == len(verdict.metrics)
    ranks = [{"regression": 0, "inconclusive": 1, "improvement": 2, "pass": 3}[v] for _, v in rows]
    assert ranks == sorted(ranks)
    # plots: distribution, per-round (one per flagged metric, capped), over time
    svgs = [a for t, a in tags if t == "svg" and a.get("class") == "plot"]
    flagged = [m for m in verdict.metrics if m.verdict in (State.REGRESSION, State.INCONCLUSIVE)]
    assert len(svgs) == 1 + min(len(flagged), 8) + 1
    assert "could not be drawn" not in html
    # context: commits, command, machine, versions, invalid and confirmation rounds
    manifest = store.manifest(run_id)
    for text in (
        manifest.command,
        manifest.candidate.subject,
        manifest.candidate.author,
        manifest.baseline.subject,
        manifest.machine["cpu_model"],
        manifest.versions["locust"],
        "load generator CPU 96%",
        "confirmation",
        "latency 50ms on gateway",
        "reconnect storm",
    ):
        assert str(escape(text)) in html, text
    assert html.count('<tr class="invalid">') == 1
    assert html.count('<tr class="confirmation">') == 2


def test_svg_ids_do_not_collide(small_reports):
    html = small_reports[0].html.read_text(encoding="utf-8")
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_every_outside_string_is_escaped(hostile_run, tmp_path):
    store, run_id, verdict, _ = hostile_run
    paths = write_reports(
        store, run_id, tmp_path, markdown=tmp_path / "s.md", junit=tmp_path / "j.xml", json_path=tmp_path / "v.json"
    )
    html = paths.html.read_text(encoding="utf-8")
    parsed = _parse(html)
    assert [t for t, _ in parsed.tags].count("script") == 1  # ours only
    assert "alert" not in "".join(parsed.scripts)
    assert not any(t == "img" for t, _ in parsed.tags)
    for tag, attrs in parsed.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, as text
    # markdown: no raw HTML, table rows keep their column count
    md = paths.markdown.read_text(encoding="utf-8")
    assert "<script>" not in md and "<img" not in md
    for line in md.splitlines():
        if line.startswith("| "):
            assert len(re.split(r"(?<!\\)\|", line)) == 10, line
    # JUnit parses, and carries the names verbatim
    root = ET.parse(paths.junit).getroot()
    names = [c.get("name") for c in root.iter("testcase")]
    assert f"{HOSTILE} [p95]" in names
    assert json.loads(paths.json.read_text())["candidate"]["subject"] == HOSTILE


def test_markdown_stays_short_with_500_endpoints(tmp_path):
    names = tuple(f"/api/v1/endpoint/{i:03d}/" + "x" * 60 + "|`*" for i in range(500))
    spec = SynthSpec(
        names=names,
        per_side=3000,
        planned_pairs=3,
        confirmation_pairs=0,
        invalid_round=None,
        regressed={n: 1.3 for n in names},
    )
    store, run_id, verdict = build_run(tmp_path / "store", spec)
    paths = write_reports(store, run_id, tmp_path / "out", markdown=tmp_path / "s.md")
    md = paths.markdown.read_text(encoding="utf-8")
    assert len(md) < MARKDOWN_LIMIT < 65_536
    flagged = sum(m.verdict in (State.REGRESSION, State.INCONCLUSIVE) for m in verdict.metrics)
    shown = sum(1 for line in md.splitlines() if line.startswith("| 🔴") or line.startswith("| 🟡"))
    omitted = int(re.search(r"and (\d+) more flagged metrics not shown", md).group(1))
    assert shown + omitted == flagged and shown > 0
    assert str(paths.html) in md
    # the HTML still lists every metric, and stays well under 5 MB
    html = paths.html.read_text(encoding="utf-8")
    assert len(re.findall(r"<tr class=\"v-", html)) == len(verdict.metrics) == 2500
    assert paths.html.stat().st_size < 5 * 2**20


def test_markdown_bound_holds_for_huge_strings(small_run):
    _, _, verdict, _ = small_run
    long = "y" * 200_000
    huge = dataclasses.replace(
        verdict,
        notes=(Note(NoteKind.STORED, text=long),) * 50,
        candidate=dataclasses.replace(verdict.candidate, subject=long, label=long),
        metrics=tuple(
            dataclasses.replace(m, name=long + str(i), scenario=long, why=Reason(Basis.STORED, text=long))
            for i, m in enumerate(verdict.metrics * 200)
        ),
    )
    text = markdown_summary(huge, None, "https://ci.example.org/artifacts/" + long)
    assert len(text) <= MARKDOWN_LIMIT


def test_markdown_links_the_artifact_url(small_run, tmp_path):
    store, run_id, verdict, _ = small_run
    url = "https://ci.example.org/job/42/artifacts/report.html"
    paths = write_reports(store, run_id, tmp_path, markdown=tmp_path / "s.md", artifact_url=url)
    md = paths.markdown.read_text(encoding="utf-8")
    assert f"]({url})" in md
    assert md.startswith("### 🔴 perfgate: **regression**")
    assert "+22." in md or "+2" in md  # changes with their CIs
    assert "…" in md  # CI ranges
    # error rates are judged as a difference: shown in percentage points, not as a ratio
    row = next(line for line in md.splitlines() if "error\\_rate" in line)
    assert " pp (" in row and " pp … " in row
    assert paths.html.stat().st_mode & 0o044 == 0o044  # readable by others, like any artifact


def test_junit_structure(small_reports):
    paths, verdict = small_reports
    root = ET.parse(paths.junit).getroot()
    assert root.tag == "testsuites"
    cases = list(root.iter("testcase"))
    assert len(cases) == len(verdict.metrics)
    regressions = [m for m in verdict.metrics if m.verdict == State.REGRESSION]
    inconclusive = [m for m in verdict.metrics if m.verdict == State.INCONCLUSIVE]
    assert int(root.get("tests")) == len(cases)
    assert int(root.get("failures")) == len(regressions) == len(list(root.iter("failure")))
    assert int(root.get("skipped")) == len(inconclusive) == len(list(root.iter("skipped")))
    assert root.get("errors") == "0"
    by_name = {(c.get("classname"), c.get("name")): c for c in cases}
    for m in verdict.metrics:
        case = by_name[(f"perfgate.{m.scenario}", f"{m.name} [{m.metric}]")]
        children = {child.tag for child in case}
        if m.verdict == State.REGRESSION:
            assert "failure" in children and case.find("failure").get("message").startswith("regression")
        elif m.verdict == State.INCONCLUSIVE:
            assert "skipped" in children and case.find("skipped").get("message").startswith("inconclusive")
        else:
            assert not children & {"failure", "skipped", "error"}
    suite = root.find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["run_id"] == verdict.run_id and props["report"] == str(paths.html)


def test_junit_keeps_the_verdict_when_nothing_was_judged(small_run):
    from perfgate.report import junit_xml

    _, _, verdict, _ = small_run
    empty = dataclasses.replace(verdict, metrics=(), state=State.INCONCLUSIVE)
    root = ET.fromstring(junit_xml(empty))
    assert root.get("tests") == "1" and root.get("skipped") == "1"
    assert verdict_text(empty) in root.find(".//skipped").get("message")


def test_junit_survives_control_characters(small_run):
    from perfgate.report import junit_xml

    _, _, verdict, _ = small_run
    nasty = dataclasses.replace(
        verdict,
        metrics=tuple(
            dataclasses.replace(m, name="a\x00b\x1bc", why=Reason(Basis.STORED, text="\x07")) for m in verdict.metrics
        ),
    )
    ET.fromstring(junit_xml(nasty))  # well-formed


def test_json_is_the_codec_schema(small_reports):
    paths, verdict = small_reports
    data = json.loads(paths.json.read_text(encoding="utf-8"))
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["report"] == str(paths.html)
    assert data == codec.verdict_to_dict(verdict, report_path=str(paths.html))
    assert codec.verdict_from_dict(data) == verdict
    keys = {
        "scenario",
        "name",
        "metric",
        "baseline",
        "candidate",
        "ratio",
        "ci_low",
        "ci_high",
        "p_value",
        "verdict",
        "reason",
    }
    assert all(keys <= set(m) for m in data["metrics"])


def test_non_finite_values_render(tmp_path):
    store, run_id, verdict = build_run(
        tmp_path / "store", SynthSpec(per_side=500, planned_pairs=2, confirmation_pairs=0, invalid_round=None)
    )
    stored = store.verdict(run_id)
    stored["metrics"][0].update(ratio=None, ci_low=None, ci_high=None, p_value=None)
    store.save_verdict(run_id, stored)
    paths = write_reports(store, run_id, tmp_path / "out", markdown=tmp_path / "s.md", json_path=tmp_path / "v.json")
    assert "—" in paths.html.read_text(encoding="utf-8")
    assert json.loads(paths.json.read_text())["metrics"][0]["ratio"] is None


def test_run_without_verdict_is_a_store_error(tmp_path):
    store = LocalStore(tmp_path / "store")
    run_id = store.create_run(manifest_from_dict(manifest_for(SynthSpec(run_id="20250102T000000-000000"))))
    with pytest.raises(StoreError, match="no verdict"):
        write_reports(store, run_id, tmp_path / "out")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    report_command.add_arguments(parser)
    return parser.parse_args(argv)


def test_report_command_rerenders_from_the_store(quiet_run, tmp_path, monkeypatch):
    store, run_id, _, _ = quiet_run
    monkeypatch.chdir(tmp_path)  # no config here: built-in defaults for what is not given
    args = _args(run_id[:8], "--store", str(store.root), "--markdown", "s.md", "--junit", "j.xml", "--json", "v.json")
    console = Console(file=io.StringIO(), width=200)
    assert report_command.run(args, console) == Outcome.OK
    assert (tmp_path / "reports" / f"{run_id}.html").is_file()
    assert json.loads((tmp_path / "v.json").read_text())["report"] == f"reports/{run_id}.html"
    args = _args("latest", "--store", str(store.root), "--out", "elsewhere")
    assert report_command.run(args, console) == Outcome.OK
    assert (tmp_path / "elsewhere" / f"{run_id}.html").is_file()


def test_report_command_errors(quiet_run, tmp_path, monkeypatch):
    store, run_id, _, _ = quiet_run
    monkeypatch.chdir(tmp_path)
    console = Console(file=io.StringIO())
    with pytest.raises(StoreError, match="no perfgate store"):
        report_command.run(_args("latest", "--store", str(tmp_path / "missing")), console)
    assert not (tmp_path / "missing").exists()
    with pytest.raises(StoreError, match="not in the store"):
        report_command.run(_args("nope", "--store", str(store.root)), console)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PerfgateError, match="cannot write"):
        report_command.run(_args(run_id, "--store", str(store.root), "--out", str(blocker / "sub")), console)


def test_default_sized_run_is_small(tmp_path):
    """12 rounds × 2 sides × 10k samples: the upper end of a default gate run. (Its render time is
    measured by tests/report/bench_render.py, in BENCHMARKS.md, not asserted here.)"""
    store, run_id, _ = build_run(tmp_path / "store", SynthSpec(planned_pairs=10, confirmation_pairs=2, per_side=10_000))
    paths = write_reports(
        store,
        run_id,
        tmp_path / "out",
        markdown=tmp_path / "s.md",
        junit=tmp_path / "j.xml",
        json_path=tmp_path / "v.json",
    )
    assert paths.html.stat().st_size < 5 * 2**20


@pytest.mark.parametrize("design", [Design.INTERLEAVED, Design.DUET])
def test_interleaved_rounds_several_scenarios_and_gaps(design, tmp_path):
    """One side per round (A B B A ...), two scenarios, a round that recorded nothing,
    no resource samples at all: every plot is still drawn."""
    spec = SynthSpec(
        design=design,
        scenarios=("chat", "storm"),
        per_side=800,
        planned_pairs=3,
        confirmation_pairs=1,
        invalid_round=None,
        empty_round=2,
        resources=False,
    )
    store, run_id, verdict = build_run(tmp_path / "store", spec)
    html = write_reports(store, run_id, tmp_path / "out").html.read_text(encoding="utf-8")
    assert "could not be drawn" not in html
    assert 'id="scenario-1"' in html and 'id="scenario-2"' in html
    assert "target failed its readiness probe" in html
    assert html.count("not recorded") >= 3  # CPU, RSS and queue depth rows say so
    rounds = store.rounds(run_id)
    assert len(rounds) == (16 if design == Design.INTERLEAVED else 8)
    assert all(len(r.sides) == (1 if design == Design.INTERLEAVED else 2) for r in rounds)


def test_markdown_collapses_the_passing_metrics_instead_of_dropping_them(small_run):
    _, _, verdict, _ = small_run
    text = markdown_summary(verdict, None, "https://ci.example.org/report.html")
    passing = [m for m in verdict.metrics if m.verdict in (State.PASS, State.IMPROVEMENT)]
    assert passing, "the synthetic run has passing metrics"
    opened, closed = text.index(f"<details><summary>{len(passing)} passing metrics"), text.index("</details>")
    inside = text[opened:closed]
    assert sum(line.startswith("| 🟢") for line in inside.splitlines()) == len(passing)
    assert not any(line.startswith(("| 🔴", "| 🟡")) for line in inside.splitlines())


def test_a_flagged_cpu_cost_is_plotted_per_round_from_the_targets_resources(tmp_path):
    """The per-round plot of ``(target)``'s CPU per request shows each side's value per round, as
    a request's plot does (it once fell back to the all-requests row, which has no CPU figures)."""
    store, run_id, verdict = build_run(tmp_path / "store", SynthSpec(names=("login",), metrics=("p50",)))
    login = dataclasses.replace(verdict.metrics[0], verdict=State.REGRESSION)
    cpu = dataclasses.replace(login, name="(target)", metric="cpu_per_request")
    store.save_verdict(run_id, codec.verdict_to_dict(dataclasses.replace(verdict, metrics=(login, cpu))))
    html = write_reports(store, run_id, tmp_path / "reports").html.read_text()

    def markers(title: str) -> int:
        figure = html[html.index(title) :]
        return figure[: figure.index("</svg>")].count("<use")

    assert markers("cpu_per_request per round") >= markers("p50 per round") > 20  # (legends differ a little)
