"""Render a stored gate run into one self-contained HTML file, plus the summaries.

The report is built **only from the store** (manifest, verdict, rounds, samples,
resources), never from live runner state, so ``perfgate report RUN`` re-renders
exactly what the gate wrote.

The HTML has no external references: styles, the small sorting/filtering script
and the plots (inline SVG, see :mod:`perfgate.report.plots`) are all in the file.
A Content-Security-Policy in the page allows no network access at all and runs
only the report's own script (by its hash), so even a string that escaped
escaping could not run. Jinja autoescaping is on for every template; the one
value marked safe is the SVG that matplotlib wrote (it escapes its own text).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from perfgate import __version__
from perfgate.codec import verdict_from_dict, verdict_to_dict
from perfgate.errors import PerfgateError, StoreError
from perfgate.figures import RedundancyFigures
from perfgate.formatting import (
    LIMIT_SUFFIX,
    change_text,
    ci_text,
    commit_links,
    is_difference,
    is_latency,
    margin_text,
    metric_unit,
    note_text,
    p_text,
    reason_text,
    value_text,
    verdict_text,
)
from perfgate.judge.rounds import ALL_NAMES, TARGET_NAME, resource_metrics, round_metrics
from perfgate.model import RESOURCE_COLUMNS, SAMPLE_COLUMNS, Manifest, MetricComparison, RoundRecord, Verdict
from perfgate.redact import redact
from perfgate.report import plots, timeline
from perfgate.report.requests import failures, name_summary
from perfgate.report.storms import STORM_COLUMNS, storm_rows
from perfgate.report.summary import change_key, counts, flagged, junit_xml, markdown_summary, order_metrics
from perfgate.store.local import LocalStore
from perfgate.store.names import check_name

MAX_ROUND_PLOTS = 8  # per scenario
MAX_QUANTILE_PANELS = 6  # "all requests" plus up to five flagged names


@dataclass(frozen=True)
class ReportPaths:
    """Where :func:`write_reports` wrote each output (None: not asked for)."""

    html: Path | None = None
    markdown: Path | None = None
    junit: Path | None = None
    json: Path | None = None


@dataclass(frozen=True)
class RunData:
    """Everything the report shows, as read from the store."""

    run_id: str
    manifest: Manifest
    verdict: Verdict
    rounds: tuple[RoundRecord, ...]
    samples: pd.DataFrame  # SAMPLE_SCHEMA columns plus "round"
    resources: pd.DataFrame  # RESOURCE_SCHEMA columns plus "round"


def load_run(store: LocalStore, run_id: str) -> RunData:
    manifest = store.manifest(run_id)
    stored = store.verdict(run_id)
    if stored is None:
        raise StoreError(f"run {run_id!r} has no verdict yet (still running, interrupted or failed): nothing to report")
    try:
        verdict = verdict_from_dict(stored, str(store.run_dir(run_id) / "verdict.json"))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"run {run_id!r}: verdict.json does not match the schema: {exc}") from exc
    rounds = tuple(sorted(store.rounds(run_id), key=lambda r: r.index))
    samples = [store.samples(run_id, r.index).assign(round=r.index) for r in rounds]
    resources = [store.resources(run_id, r.index).assign(round=r.index) for r in rounds]
    return RunData(
        run_id=run_id,
        manifest=manifest,
        verdict=verdict,
        rounds=rounds,
        samples=_concat(samples, SAMPLE_COLUMNS),
        resources=_concat(resources, RESOURCE_COLUMNS),
    )


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in (*columns, "round")})
    return pd.concat(frames, ignore_index=True)


# --- the HTML -----------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("perfgate.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _row(m: MetricComparison) -> dict[str, Any]:
    def num(x: float) -> str:
        return repr(float(x)) if x is not None and math.isfinite(x) else ""

    return {
        "name": m.name,
        "metric": m.metric,
        "verdict": m.verdict.value,
        "reason": reason_text(m),
        "baseline": value_text(m.baseline, m.metric),
        "candidate": value_text(m.candidate, m.metric),
        "change": change_text(m),
        "ci": ci_text(m),
        "p": p_text(m.p_value),
        "margin": margin_text(m),
        "rounds": m.rounds,
        "rank": {"regression": 0, "inconclusive": 1, "improvement": 2, "pass": 3}[m.verdict.value],
        "k_baseline": num(m.baseline),
        "k_candidate": num(m.candidate),
        "k_ratio": num(change_key(m)),
        "k_ci": num(m.ci_high * 100 if is_difference(m) else (m.ci_high - 1) * 100),
        "k_p": num(m.p_value),
        "better": "higher" if m.higher_is_better else "lower",
    }


def _headline(m: MetricComparison) -> dict[str, str]:
    return {
        "verdict": m.verdict.value,
        "scenario": m.scenario,
        "name": m.name,
        "metric": m.metric,
        "change": change_text(m),
        "ci": ci_text(m),
        "moves": f"{value_text(m.baseline, m.metric)} → {value_text(m.candidate, m.metric)}",
    }


def _round_plot(table: pd.DataFrame, name: str, m: MetricComparison, scale: float, unit: str) -> str:
    return plots.round_series(plots.round_values(table, name, m.metric), m, scale, unit)


def _safe_plot(errors: list[str], what: str, make: Callable[[], str | None]) -> Markup | None:
    """Draw one plot; a failure shows as a note in the report instead of losing the report."""
    try:
        svg = make()
    except Exception as exc:  # noqa: BLE001 - a broken plot must not cost the whole report
        errors.append(f"{what}: {type(exc).__name__}: {exc}")
        return None
    return Markup(svg) if svg else None  # matplotlib escaped every text inside


def round_table(
    samples: pd.DataFrame, rounds: list[RoundRecord], resources: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The judge's round-level values (:func:`perfgate.judge.rounds.round_metrics`), one row
    per (round, side, request name, plus the ``(all)`` aggregate), so the per-round plots
    show exactly the numbers the verdict was computed from."""
    rows = []
    by_round = {index: frame for index, frame in samples.groupby("round", sort=False)}
    for record in rounds:
        frame = by_round.get(record.index)
        if frame is None:
            continue
        judged = round_metrics(frame, record, aggregate=True)
        if resources is not None and not resources.empty:
            judged += resource_metrics(resources[resources["round"] == record.index], record, frame)
        for m in judged:
            rows.append(
                {
                    "round": record.index,
                    "pair": record.pair,
                    "side": m.side.value,
                    "name": m.name,
                    "valid": record.valid,
                    "confirmation": record.confirmation,
                    **m.values,
                }
            )
    return pd.DataFrame(rows)


def _scenario_names(data: RunData) -> list[str]:
    names: list[str] = []
    for source in (
        list(data.manifest.scenarios),
        [m.scenario for m in data.verdict.metrics],
        [r.scenario for r in data.rounds],
    ):
        for name in source:
            if name not in names:
                names.append(name)
    return names


def _scenario_context(data: RunData, number: int, scenario: str, plot_errors: list[str]) -> dict[str, Any]:
    metrics = order_metrics(m for m in data.verdict.metrics if m.scenario == scenario)
    rounds = [r for r in data.rounds if r.scenario == scenario]
    round_ids = {r.index for r in rounds}
    valid_ids = {r.index for r in rounds if r.valid}
    samples = data.samples[data.samples["round"].isin(round_ids)]
    resources = data.resources[data.resources["round"].isin(round_ids)]
    measured = samples[samples["round"].isin(valid_ids) & ~samples["warmup"].astype(bool) & samples["ok"].astype(bool)]
    sample_names = set(samples["name"].unique()) if not samples.empty else set()
    hot = flagged(metrics)

    panels: list[str | None] = [None]
    for m in hot:
        if is_latency(m.metric) and m.name in sample_names and m.name not in panels:
            panels.append(m.name)
        if len(panels) >= MAX_QUANTILE_PANELS:
            break
    quantiles = _safe_plot(
        plot_errors,
        f"{scenario}: latency distribution",
        lambda: plots.quantile_overlay(
            measured,
            panels,
            "Latency of successful requests by percentile, pooled over valid rounds (descriptive; "
            "the verdict uses round-level values)",
        ),
    )

    relative = [m for m in hot if not m.metric.endswith(LIMIT_SUFFIX)]  # a limit row has no pairs to plot
    chosen = relative[:MAX_ROUND_PLOTS] or metrics[:1]
    table = round_table(samples, rounds, resources) if chosen else pd.DataFrame()
    round_plots = []
    for m in chosen:
        # a request's own row, the target's resources, or the aggregate row that pools all names
        name = m.name if m.name in sample_names or m.name == TARGET_NAME else ALL_NAMES
        scale, unit = metric_unit(m.metric)
        svg = _safe_plot(
            plot_errors,
            f"{scenario}: {m.name} {m.metric} per round",
            functools.partial(_round_plot, table, name, m, scale, unit),
        )
        round_plots.append({"metric": _headline(m), "svg": svg, "context_only": not hot})
    over_time = _safe_plot(
        plot_errors,
        f"{scenario}: over time",
        lambda: timeline.timeline(samples, resources, rounds, f"Scenario {plots.legend_label(scenario)} over time"),
    )
    c = counts(metrics)
    return {
        "name": scenario,
        "id": f"scenario-{number}",
        "rows": [_row(m) for m in metrics],
        "counts": c,
        "quantiles": quantiles,
        "round_plots": round_plots,
        "more_flagged": max(0, len(hot) - MAX_ROUND_PLOTS),
        "over_time": over_time,
        "requests": int(len(measured)),
        "by_name": name_summary(samples, rounds),
        "failures": failures(samples, rounds),
        "rounds": len(rounds),
    }


def _round_rows(data: RunData) -> list[dict[str, Any]]:
    t0 = min((r.started_ns for r in data.rounds), default=0)
    rows = []
    for r in data.rounds:
        per_side = data.samples[data.samples["round"] == r.index]
        rows.append(
            {
                "index": r.index,
                "scenario": r.scenario,
                "design": r.design.value,
                "sides": " + ".join(s.value for s in r.sides),
                "pair": r.pair,
                "start": f"{(r.started_ns - t0) / 1e9:.1f}",
                "duration": f"{(r.ended_ns - r.started_ns) / 1e9:.1f}",
                "warmup": f"{(r.measure_start_ns - r.started_ns) / 1e9:.1f}",
                "valid": r.valid,
                "invalid_reason": r.invalid_reason,
                "confirmation": r.confirmation,
                "generator_cpu": f"{r.generator_cpu:.0f}%",
                "requests": int(len(per_side)),
                "windows": [
                    f"{w.kind}: {w.label} ({(w.start_ns - t0) / 1e9:.1f}–{(w.end_ns - t0) / 1e9:.1f} s)"
                    for w in r.windows
                ],
            }
        )
    return rows


def _phase_rows(data: RunData) -> list[list[str]]:
    """One row per round, side, group and phase of a redundant group's outage."""

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v * 100:.1f}%"

    def ms(v: float | None) -> str:
        return "–" if v is None else f"{v:.1f}"

    rows = []
    for r in data.rounds:
        for f in r.figures(RedundancyFigures):
            for p in f.phases:
                logins = [str(p.logins), pct(p.login_ok_rate), ms(p.login_p50_ms), ms(p.login_max_ms)]
                chat = [str(p.sends), pct(p.send_ok_rate), str(p.delivers), ms(p.deliver_p50_ms)]
                rows.append([str(r.index), f.side, f.group, p.phase, f"{p.seconds:.1f}", *logins, *chat])
    return rows


def _revision(rev: Any) -> dict[str, Any]:
    return {
        "label": rev.label,
        "sha": rev.sha,
        "short": rev.short,
        "subject": rev.subject,
        "author": rev.author,
        "date": rev.date,
        "dirty": rev.dirty,
    }


def _machine_value(key: str, value: Any) -> Any:
    if key.endswith("_bytes") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value / 2**30:.1f} GiB"
    return value


def _script() -> tuple[str, str]:
    text = (Path(__file__).parent / "templates" / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return text, f"'sha256-{digest}'"


def render_html(data: RunData) -> str:
    verdict, manifest = data.verdict, data.manifest
    plot_errors: list[str] = []
    scenarios = [_scenario_context(data, i, s, plot_errors) for i, s in enumerate(_scenario_names(data), 1)]
    script, script_hash = _script()
    style = (Path(__file__).parent / "templates" / "report.css").read_text(encoding="utf-8")
    config = redact(manifest.config)  # a store written before redaction may still hold secrets
    context = {
        "run_id": data.run_id,
        "state": verdict.state.value,
        "reason": verdict_text(verdict),
        "notes": [note_text(note) for note in verdict.notes],
        "counts": counts(verdict.metrics),
        "total_metrics": len(verdict.metrics),
        "headline": [_headline(m) for m in flagged(verdict.metrics)[:5]],
        "more_headline": max(0, len(flagged(verdict.metrics)) - 5),
        "baseline": _revision(verdict.baseline),
        "candidate": _revision(verdict.candidate),
        "links": commit_links(manifest.repository_url, verdict.baseline, verdict.candidate),
        "rounds_total": verdict.rounds or len(data.rounds),
        "invalid_total": verdict.invalid_rounds,
        "confirmation_total": verdict.confirmation_rounds,
        "design": manifest.design,
        "created": manifest.created,
        "command": manifest.command,
        "machine": {k: _machine_value(k, v) for k, v in manifest.machine.items()},
        "versions": manifest.versions,
        "config_hash": manifest.config_hash,
        "fingerprint": manifest.fingerprint,
        "config_text": json.dumps(config, indent=2, sort_keys=True, default=str) if config else "",
        "scenarios": scenarios,
        "round_rows": _round_rows(data),
        "phase_rows": _phase_rows(data),
        "storm_columns": STORM_COLUMNS,
        "storm_rows": storm_rows(data.rounds, data.samples),
        "plot_errors": plot_errors,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "perfgate_version": __version__,
        "style": Markup(style),  # our own file, not outside data
        "script": Markup(script),
        "csp": (
            f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src {script_hash}; base-uri 'none'; form-action 'none'"
        ),
    }
    return _environment().get_template("report.html.j2").render(**context)


# --- writing ------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    """Write via a temporary name and rename; the file gets the umask's usual mode (a report
    is meant to be read by others, unlike mkstemp's 0600)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "xb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise PerfgateError(f"{path}: cannot write the report: {exc.strerror or exc}") from exc


def _duration_s(rounds: tuple[RoundRecord, ...]) -> float:
    if not rounds:
        return 0.0
    return (max(r.ended_ns for r in rounds) - min(r.started_ns for r in rounds)) / 1e9


def write_reports(
    store: LocalStore,
    run_id: str,
    out_dir: Path,
    *,
    markdown: Path | None = None,
    junit: Path | None = None,
    json_path: Path | None = None,
    artifact_url: str | None = None,
) -> ReportPaths:
    """Render the HTML report of a stored run into ``out_dir/<run_id>.html``, and the
    markdown, JUnit and JSON outputs where asked. Reads only from ``store``."""
    data = load_run(store, run_id)
    html_path = Path(out_dir) / f"{check_name(run_id, 'run id', str(store.root))}.html"
    _write(html_path, render_html(data).encode("utf-8"))
    if markdown is not None:
        link = artifact_url or str(html_path)
        _write(Path(markdown), markdown_summary(data.verdict, data.manifest, link).encode("utf-8"))
    if junit is not None:
        _write(
            Path(junit),
            junit_xml(
                data.verdict,
                report_path=str(html_path),
                duration_s=_duration_s(data.rounds),
                timestamp=str(data.manifest.created),
            ),
        )
    if json_path is not None:
        payload = verdict_to_dict(data.verdict, report_path=str(html_path))
        _write(Path(json_path), (json.dumps(payload, indent=2) + "\n").encode("utf-8"))
    return ReportPaths(
        html=html_path,
        markdown=Path(markdown) if markdown else None,
        junit=Path(junit) if junit else None,
        json=Path(json_path) if json_path else None,
    )


__all__ = ["ReportPaths", "RunData", "load_run", "render_html", "write_reports"]
