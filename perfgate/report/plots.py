"""Plots of a gate run, as inline SVG made by matplotlib.

Why matplotlib and inline SVG:

- **Self-contained by construction.** Each figure is an ``<svg>`` element written
  into the HTML. Nothing is fetched, and no JavaScript draws anything, so a
  report opened offline from a CI artifact looks exactly as rendered, even with
  scripts off or behind a strict Content-Security-Policy.
- **A well-kept library instead of hand-written plotting.** matplotlib gives log
  axes, shared time axes, shaded spans, legends and tick formatting; hand-written
  SVG in Jinja would reimplement all of that. Vendored JS charting would add
  hundreds of kilobytes of third-party code to every report and run it in the
  reviewer's browser.
- **Escaping stays with the producer.** matplotlib's SVG writer escapes every
  text it emits (request names, labels), and we turn off mathtext so a ``$`` in
  a request name is shown, not parsed. The report's tests check that hostile
  names come out inert.
- **Size.** Text is kept as ``<text>`` (``svg.fonttype = none``), not as glyph
  paths, and every series is reduced before plotting: latency distributions to a
  few hundred quantiles, time series to fixed bins (at most ``MAX_BINS``).
  The cost is static plots (no hover); the tables carry the exact numbers.

All functions here are pure: they take frames already read from the store and
return SVG text. Pooled-sample plots (the quantile overlay) are descriptive; the
verdict rests on round-level values (see docs/architecture.md, Statistics).
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from perfgate.formatting import is_difference, margin_text
from perfgate.model import MetricComparison

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.typing import RcKeyType

BASELINE_COLOR = "#0072B2"  # Okabe-Ito blue
CANDIDATE_COLOR = "#D55E00"  # Okabe-Ito vermillion
SIDE_COLORS = {"baseline": BASELINE_COLOR, "candidate": CANDIDATE_COLOR}
WINDOW_COLORS = {
    "fault": "#E69F00",
    "storm": "#CC79A7",
    "chaos": "#7F7F7F",
    "warmup": "#BBBBBB",
    "failover": "#D55E00",
    "one down": "#F0E442",
    "two down": "#E69F00",
    "all down": "#C00000",
    "recovering": "#009E73",
}  # failover: the service's read-only period; the rest: the phases of a redundant group's outage
INVALID_COLOR = "#C00000"
CONFIRM_COLOR = "#6A3D9A"
MAX_BINS = 400  # per scenario time axis
QUANTILE_POINTS = 240
MAX_LABEL = 48

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # text as <text>, rendered in the page's font
    "text.parse_math": False,  # request names may contain "$"; no tick label needs mathtext
    "axes.formatter.use_mathtext": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.6,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "lines.linewidth": 1.3,
    "path.simplify": True,
}
_counter = itertools.count()
_SVG_ROOT = re.compile(r"<svg\b[^>]*>")


_P = ParamSpec("_P")
_R = TypeVar("_R")


def styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Build the figure under perfgate's matplotlib style (artists read rcParams when made)."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def figure(
    width: float, height: float, layout: Literal["constrained", "compressed", "tight"] | None = "constrained"
) -> Figure:
    return Figure(figsize=(width, height), layout=layout)


def log_y(ax: Axes) -> None:
    """A log y axis labelled with plain numbers (1, 2, 5, 10, ...), not powers of ten."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def to_svg(fig: Figure, label: str) -> str:
    """The figure as an ``<svg>`` element for inlining (no XML prolog, fluid width)."""
    buf = io.StringIO()
    salt = f"pg{next(_counter)}"  # distinct, reproducible ids across figures of one page
    with matplotlib.rc_context({**_RC, "svg.hashsalt": salt}):
        metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
        FigureCanvasSVG(fig).print_svg(buf, metadata=metadata)  # type: ignore[no-untyped-call]  # unannotated
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    head = _SVG_ROOT.match(text)
    assert head is not None, "matplotlib's SVG starts with an <svg> element"
    root = head.group(0)
    box = re.search(r'viewBox="([^"]*)"', root)
    assert box is not None, "matplotlib's <svg> element has a viewBox"
    viewbox = box.group(1)
    new_root = (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="{viewbox}" class="plot" role="img" aria-label="{_attr(label)}">'
    )
    # Ids must be unique in the page: prefix each (groups "figure_1", "line2d_3"... repeat across
    # figures) and every reference to one.
    body = re.sub(r'\bid="([^"]+)"', rf'id="{salt}-\1"', text[len(root) :])
    body = re.sub(r'(xlink:href|href)="#([^"]+)"', rf'\1="#{salt}-\2"', body)
    body = re.sub(r"url\(#([^)]+)\)", rf"url(#{salt}-\1)", body)
    return new_root + body


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def legend_label(name: str, limit: int = MAX_LABEL) -> str:
    """A name safe as a matplotlib label: short, and not hidden by a leading underscore."""
    name = " ".join(str(name).split())
    if len(name) > limit:
        name = name[: limit - 1] + "…"
    return "\u200b" + name if name.startswith("_") else name


# --- round-level values ------------------------------------------------------------


def round_values(table: pd.DataFrame, name: str, metric: str) -> pd.DataFrame:
    """Per round and side, one metric of one request name.

    ``table`` has one row per (round, side, name) with the judge's round-level
    values as columns (see :func:`perfgate.report.render.round_table`), plus
    ``pair``, ``valid`` and ``confirmation``. Returns columns round, pair, side,
    value, valid, confirmation.
    """
    columns = ["round", "pair", "side", "value", "valid", "confirmation"]
    if table.empty or metric not in table:
        return pd.DataFrame(columns=columns)
    rows = table[table["name"] == name]
    return rows.assign(value=rows[metric].astype(float))[columns].reset_index(drop=True)


def pair_changes(values: pd.DataFrame, difference: bool = False) -> pd.DataFrame:
    """Per pair of valid rounds: candidate/baseline (or candidate − baseline), which is
    what the judge's interval is about. Columns: pair, round (the pair's last), change."""
    valid = values[values["valid"].astype(bool)]
    table = valid.pivot_table(index="pair", columns="side", values="value", aggfunc="mean")
    if "baseline" not in table or "candidate" not in table:
        return pd.DataFrame(columns=["pair", "round", "change"])
    last_round = valid.groupby("pair")["round"].max()
    if difference:
        change = table["candidate"] - table["baseline"]
    else:
        change = (table["candidate"] / table["baseline"]).replace([np.inf, -np.inf], np.nan)
    out = pd.DataFrame(
        {"pair": table.index, "round": last_round.reindex(table.index).to_numpy(), "change": change.to_numpy()}
    )
    return out.dropna()


# --- figures -----------------------------------------------------------------------


@styled
def quantile_overlay(samples: pd.DataFrame, names: Sequence[str | None], title: str) -> str | None:
    """Latency by percentile, baseline vs candidate, log-log (HdrHistogram style).

    ``samples`` are the measured samples of valid rounds of one scenario; ``names``
    picks the panels (``None`` = all requests pooled).
    """
    if samples.empty:
        return None
    panels = list(names)[:6]
    cols = min(3, len(panels))
    rows_n = math.ceil(len(panels) / cols)
    fig = figure(3.3 * cols + 0.4, 2.5 * rows_n + 0.3)
    axes = fig.subplots(rows_n, cols, squeeze=False).ravel()
    ticks = [(math.log10(2), "50%"), (1.0, "90%"), (2.0, "99%"), (3.0, "99.9%"), (4.0, "99.99%"), (5.0, "99.999%")]
    by_name = dict(tuple(samples.groupby("name", sort=False)))
    for ax, name in zip(axes, panels, strict=False):  # more axes than panels: extras hidden
        frame = samples if name is None else by_name.get(name, samples.iloc[0:0])
        top = 0.0
        for side, color in SIDE_COLORS.items():
            lat = np.sort(frame.loc[frame["side"] == side, "latency_us"].to_numpy())
            if lat.size < 2:
                continue
            u = np.linspace(0.0, math.log10(lat.size), QUANTILE_POINTS)
            q = np.clip(1.0 - 10.0**-u, 0.0, 1.0)
            ax.plot(u, np.quantile(lat, q) / 1000.0, color=color, label=f"{side} (n={lat.size:,})")
            top = max(top, u[-1])
        log_y(ax)
        ax.set_xticks([p for p, _ in ticks if p <= top + 1e-9], [lbl for p, lbl in ticks if p <= top + 1e-9])
        ax.set_xlim(0, max(top, 1.0))
        ax.set_title(legend_label("all requests" if name is None else name, 34))
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms)")
        ax.legend(loc="upper left")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title, x=0.01, ha="left", fontsize=9, color="#555555")
    return to_svg(fig, title)


@styled
def round_series(values: pd.DataFrame, comparison: MetricComparison, unit_scale: float, unit: str) -> str:
    """Per-round values of one metric per side, and the per-pair ratio with the margin."""
    # Fixed margins: constrained layout costs ~0.2 s a figure and this one is simple.
    fig = figure(9.6, 2.6, layout=None)
    fig.subplots_adjust(left=0.075, right=0.99, bottom=0.17, top=0.9, wspace=0.2)
    ax, rax = fig.subplots(1, 2, width_ratios=[1.35, 1])
    _values_panel(ax, values, comparison, unit_scale, unit)
    _change_panel(rax, values, comparison)
    return to_svg(fig, f"{comparison.name} {comparison.metric} per round")


def _values_panel(ax: Axes, values: pd.DataFrame, comparison: MetricComparison, unit_scale: float, unit: str) -> None:
    """Each side's value per round: pairs joined, confirmation rounds hollow, invalid rounds crossed."""
    scaled = values.assign(value=values["value"] / unit_scale)
    for _, group in scaled[scaled["valid"].astype(bool)].groupby("pair"):
        if group["side"].nunique() == 2:
            ax.plot(group["round"], group["value"], color="#bbbbbb", linewidth=0.8, zorder=1)
    for side, marker in (("baseline", "o"), ("candidate", "s")):
        part = scaled[scaled["side"] == side]
        normal = part[~part["confirmation"].astype(bool)]
        confirm = part[part["confirmation"].astype(bool)]
        ax.scatter(normal["round"], normal["value"], color=SIDE_COLORS[side], marker=marker, s=22, label=side, zorder=3)
        if not confirm.empty:
            ax.scatter(
                confirm["round"],
                confirm["value"],
                facecolors="none",
                marker=marker,
                s=30,
                edgecolors=SIDE_COLORS[side],
                linewidths=1.4,
                zorder=3,
            )
    confirm_rounds = sorted(set(values.loc[values["confirmation"].astype(bool), "round"]))
    for r in confirm_rounds:
        ax.axvspan(r - 0.45, r + 0.45, color=CONFIRM_COLOR, alpha=0.08, linewidth=0)
    invalid = scaled[~scaled["valid"].astype(bool)]
    if not invalid.empty:
        ax.scatter(
            invalid["round"], invalid["value"], marker="x", color=INVALID_COLOR, s=40, zorder=4, label="invalid round"
        )
    handles, labels = ax.get_legend_handles_labels()
    if confirm_rounds:
        handles.append(Patch(color=CONFIRM_COLOR, alpha=0.25))
        labels.append("confirmation round (hollow)")
    ax.legend(handles, labels, loc="best", ncols=2)
    ax.set_xlabel("round")
    ax.set_ylabel(f"{comparison.metric} ({unit})" if unit else comparison.metric)
    ax.set_title(legend_label(f"{comparison.name} · {comparison.metric} per round"))
    if not values.empty:
        ax.set_xticks(sorted(set(values["round"])))


def _change_panel(rax: Axes, values: pd.DataFrame, comparison: MetricComparison) -> None:
    """The per-pair ratio (or difference) in its margin band, and the verdict's estimate with its CI."""
    # Error rates are judged as a difference with an absolute tolerance, the rest as ratios.
    difference = is_difference(comparison)
    scale = 100.0 if difference else 1.0  # differences shown in percentage points
    center = 0.0 if difference else 1.0
    changes = pair_changes(values, difference)
    margin = comparison.margin * scale
    rax.axhspan(
        center - margin,
        center + margin,
        color="#2ca02c",
        alpha=0.10,
        linewidth=0,
        label=f"{margin_text(comparison)} {'tolerance' if difference else 'margin'}",
    )
    rax.axhline(center, color="#777777", linewidth=0.8)
    if not changes.empty:
        rax.plot(
            changes["round"],
            changes["change"] * scale,
            marker="o",
            color="#333333",
            markersize=4,
            linewidth=0.9,
            label="candidate − baseline" if difference else "candidate / baseline",
        )
    ticks: list[float] = [int(r) for r in changes["round"]]
    labels = [str(r) for r in ticks]
    point = (comparison.candidate - comparison.baseline) * scale if difference else comparison.ratio
    low, high = comparison.ci_low * scale, comparison.ci_high * scale
    if all(math.isfinite(x) for x in (low, high, point)):
        right = (max(ticks) if ticks else 0) + 1.2
        rax.errorbar(
            [right],
            [point],
            yerr=[[max(point - low, 0)], [max(high - point, 0)]],
            fmt="D",
            color=CANDIDATE_COLOR,
            capsize=4,
            label="verdict: change and CI",
        )
        ticks.append(right)
        labels.append("verdict")
    rax.set_xticks(ticks, labels)
    rax.set_xlabel("round (pair's last)")
    rax.set_ylabel("difference (pp)" if difference else "ratio")
    rax.set_title(f"{'difference' if difference else 'ratio'} per pair · {comparison.verdict.value}")
    rax.legend(loc="best")
