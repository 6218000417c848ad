"""The timeline figure of a scenario: latency, throughput, errors and resources per side over
the rounds, with fault, storm, chaos and failover windows shaded (inline SVG, as in
:mod:`perfgate.report.plots`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from perfgate.figures import RedundancyFigures
from perfgate.model import RoundRecord
from perfgate.report.plots import (
    CONFIRM_COLOR,
    INVALID_COLOR,
    MAX_BINS,
    SIDE_COLORS,
    WINDOW_COLORS,
    figure,
    legend_label,
    log_y,
    styled,
    to_svg,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def choose_bin_ns(rounds: Sequence[RoundRecord]) -> int:
    span = sum(max(r.ended_ns - r.started_ns, 0) for r in rounds)
    seconds = max(span / 1e9 / MAX_BINS, 1.0)
    for nice in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if seconds <= nice:
            return int(nice * 1e9)
    return int(math.ceil(seconds) * 1e9)


def _binned(frame: pd.DataFrame, record: RoundRecord, bin_ns: int, t0: int) -> pd.DataFrame:
    """Bins of one round and side, plus a NaN row so lines break between rounds."""
    if frame.empty:
        return pd.DataFrame()
    b = (frame["t_ns"].to_numpy() - record.started_ns) // bin_ns
    grouped = frame.assign(bin=b).groupby("bin")
    lat = grouped["latency_us"]
    out = pd.DataFrame(
        {
            "p50": lat.quantile(0.5) / 1000.0,
            "p95": lat.quantile(0.95) / 1000.0,
            "count": lat.size(),
            "errors": grouped["ok"].apply(lambda s: int((~s.astype(bool)).sum())),
        }
    )
    starts = record.started_ns + out.index.to_numpy() * bin_ns
    out["x"] = (starts + 0.5 * bin_ns - t0) / 1e9
    # The last bin is cut short by the round's end: its rate is over the part it covers, so a
    # partial bin is not drawn as a throughput drop (and a sliver under half a bin not at all).
    covered = np.clip(np.minimum(starts + bin_ns, record.ended_ns) - starts, 0, bin_ns) / 1e9
    out["rps"] = np.where(covered >= bin_ns / 2e9, out["count"] / np.maximum(covered, 1e-9), np.nan)
    out["error_pct"] = 100.0 * out["errors"] / out["count"]
    gap = pd.DataFrame({c: [math.nan] for c in out.columns})
    return pd.concat([out.reset_index(drop=True), gap], ignore_index=True)


def _binned_resources(frame: pd.DataFrame, record: RoundRecord, bin_ns: int, t0: int) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame()
    b = (frame["t_ns"].to_numpy() - record.started_ns) // bin_ns
    out = frame.assign(bin=b).groupby("bin")[["cpu_percent", "rss_bytes", "queue_depth"]].mean()
    out["x"] = (record.started_ns + (out.index.to_numpy() + 0.5) * bin_ns - t0) / 1e9
    out["rss_mb"] = out["rss_bytes"] / 2**20
    gap = pd.DataFrame({c: [math.nan] for c in out.columns})
    return pd.concat([out.reset_index(drop=True), gap], ignore_index=True)


@styled
def timeline(samples: pd.DataFrame, resources: pd.DataFrame, rounds: Sequence[RoundRecord], title: str) -> str | None:
    """Latency, throughput, errors and the target's resources over time, shared x axis.

    Fault, storm and chaos windows are shaded on every row; warm-ups are grey;
    invalid rounds are hatched red; each round is labelled at the top.
    """
    if not rounds:
        return None
    t0 = min(r.started_ns for r in rounds)
    bin_ns = choose_bin_ns(rounds)
    joined, res_joined = _timeline_series(samples, resources, rounds, bin_ns, t0)

    fig = figure(10.0, 9.2)
    axes = fig.subplots(6, 1, sharex=True, height_ratios=[1.4, 1, 0.8, 1, 1, 0.8])
    lat_ax, rps_ax, err_ax, cpu_ax, rss_ax, q_ax = axes
    for side, data in joined.items():
        color = SIDE_COLORS.get(side, "#333333")
        lat_ax.plot(data["x"], data["p95"], color=color, label=f"{side} p95")
        lat_ax.plot(data["x"], data["p50"], color=color, linestyle="--", linewidth=0.9, label=f"{side} p50")
        rps_ax.plot(data["x"], data["rps"], color=color, label=side)
        err_ax.plot(data["x"], data["error_pct"], color=color, label=side)
    dependency_styles: dict[str, object] = {}
    for (side, process), data in sorted(res_joined.items()):
        style = (
            "-"
            if process == "target"
            else dependency_styles.setdefault(process, (":", "-.", (0, (1, 3)))[len(dependency_styles) % 3])
        )
        label = legend_label(f"{side} {process}")
        color = SIDE_COLORS.get(side, "#333333")
        cpu_ax.plot(data["x"], data["cpu_percent"], color=color, linestyle=style, label=label)
        rss_ax.plot(data["x"], data["rss_mb"], color=color, linestyle=style, label=label)
        if data["queue_depth"].notna().any():
            q_ax.plot(data["x"], data["queue_depth"], color=color, linestyle=style, label=label)
    log_y(lat_ax)
    labels = [
        (lat_ax, "latency (ms)"),
        (rps_ax, "throughput (req/s)"),
        (err_ax, "errors (%)"),
        (cpu_ax, "target CPU (%)"),
        (rss_ax, "target RSS (MiB)"),
        (q_ax, "queue depth"),
    ]
    for ax, text in labels:
        ax.set_ylabel(text)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
        elif ax is not lat_ax:
            ax.text(0.5, 0.5, "not recorded", transform=ax.transAxes, ha="center", va="center", color="#999999")
    err_ax.set_ylim(bottom=0)
    q_ax.set_xlabel(f"seconds since the first round started (bins of {bin_ns / 1e9:g} s)")
    kinds = _shade_rounds(axes, rounds, t0)
    handles = [Patch(color=WINDOW_COLORS.get(k, "#999999"), alpha=0.35, label=k) for k in kinds]
    if any(not r.valid for r in rounds):
        handles.append(Patch(facecolor="none", edgecolor=INVALID_COLOR, hatch="///", label="invalid round"))
    if handles:
        fig.legend(handles=handles, loc="outside upper right", ncols=len(handles), fontsize=7.5)
    fig.suptitle(title, x=0.01, ha="left", fontsize=9.5, fontweight="bold")
    return to_svg(fig, title)


def _timeline_series(
    samples: pd.DataFrame, resources: pd.DataFrame, rounds: Sequence[RoundRecord], bin_ns: int, t0: int
) -> tuple[dict[str, pd.DataFrame], dict[tuple[str, str], pd.DataFrame]]:
    """The binned samples per side, and the binned resources per (side, process), over all rounds."""
    s_groups = {k: g for k, g in samples.groupby(["round", "side"], sort=False)}
    r_groups = {k: g for k, g in resources.groupby(["round", "side", "process"], sort=False)}
    series: dict[str, list[pd.DataFrame]] = {}
    res_series: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for record in rounds:
        for record_side in record.sides:
            frame = s_groups.get((record.index, record_side.value))
            if frame is not None:
                series.setdefault(record_side.value, []).append(_binned(frame, record, bin_ns, t0))
        for (idx, side_name, process), frame in r_groups.items():
            if idx == record.index:
                res_series.setdefault((str(side_name), str(process)), []).append(
                    _binned_resources(frame, record, bin_ns, t0)
                )
    joined = {k: pd.concat(v, ignore_index=True) for k, v in series.items() if v}
    res_joined = {k: pd.concat(v, ignore_index=True) for k, v in res_series.items() if v}
    return joined, res_joined


def _phase_spans(record: RoundRecord) -> list[tuple[str, int, int]]:
    """The phases of each redundant group's outage (one side's: both sides go through the same
    plan), but for ``all up``; more than two members down shade as ``two down``."""
    out, seen = [], set()
    for figures in record.figures(RedundancyFigures):
        if figures.group in seen:
            continue
        seen.add(figures.group)
        for phase in figures.phases:
            kind = phase.phase if phase.phase in WINDOW_COLORS else "two down"
            out += [(kind, a, b) for a, b in phase.spans if phase.phase != "all up"]
    return out


def _shade_rounds(axes: Sequence[Axes], rounds: Sequence[RoundRecord], t0: int) -> list[str]:
    kinds: list[str] = []

    def sec(ns: int) -> float:
        return (ns - t0) / 1e9

    for record in rounds:
        spans = (
            [("warmup", record.started_ns, record.measure_start_ns)]
            if record.measure_start_ns > record.started_ns
            else []
        )
        spans += [(w.kind, w.start_ns, w.end_ns) for w in record.windows if w.kind != "redundancy"]
        spans += _phase_spans(record)
        for kind, start, end in spans:
            if kind not in kinds:
                kinds.append(kind)
            for ax in axes:
                ax.axvspan(
                    sec(start),
                    sec(max(end, start)),
                    color=WINDOW_COLORS.get(kind, "#999999"),
                    alpha=0.18 if kind == "warmup" else 0.28,
                    linewidth=0,
                    zorder=0,
                )
        for ax in axes:
            ax.axvline(sec(record.started_ns), color="#cccccc", linewidth=0.6, zorder=0)
            if not record.valid:
                ax.axvspan(
                    sec(record.started_ns),
                    sec(record.ended_ns),
                    facecolor="none",
                    edgecolor=INVALID_COLOR,
                    hatch="///",
                    linewidth=0,
                    alpha=0.5,
                    zorder=0,
                )
        tag = f"r{record.index}" + ("·c" if record.confirmation else "") + ("·✗" if not record.valid else "")
        axes[0].annotate(
            tag,
            (sec(record.started_ns), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=6.5,
            color=INVALID_COLOR if not record.valid else (CONFIRM_COLOR if record.confirmation else "#666666"),
        )
    return kinds
