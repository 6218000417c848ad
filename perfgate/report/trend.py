"""The trend page of ``perfgate history``: one self-contained HTML file, no script, no network.

Coordinates are computed here and drawn as inline SVG by ``trend.html.j2``
(Jinja, autoescape on). Each point links to the gate report of the run that
measured its commit, as a path relative to the page.
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from perfgate.formatting import percent, value_text
from perfgate.model import Series
from perfgate.store.query import Key

WIDTH, HEIGHT = 900, 230
LEFT, RIGHT, TOP, BOTTOM = 70, 12, 14, 30


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step) + 1)]


def _series_view(s: Series, commits: int, links: dict[str, str]) -> dict[str, Any]:
    values = [v for p in s.points for v in (*p.values, p.low, p.high) if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    low, high = max(low - pad, 0.0) if low >= 0 else low - pad, high + pad
    step = (WIDTH - LEFT - RIGHT) / max(commits, 1)
    bottom = HEIGHT - BOTTOM

    def x(position: int) -> float:
        return round(LEFT + (position + 0.5) * step, 1)

    def y(value: float) -> float:
        return round(bottom - (value - low) / (high - low) * (bottom - TOP), 1)

    changed = {c.position for c in s.changes}
    points: list[dict[str, Any]] = []
    dots: list[dict[str, float]] = []
    for p in s.points:
        href = links.get(p.run_id or "")
        tooltip = (
            f"{p.revision.sha[:10]} {p.revision.subject}\n{s.metric} {value_text(p.centre, s.metric)} "
            f"[{value_text(p.low, s.metric)}, {value_text(p.high, s.metric)}] over {len(p.values)} rounds"
            + (f"\ngate verdict vs {p.step_baseline[:10]}: {p.step}" if p.step else "")
        )
        points.append(
            {
                "x": x(p.position),
                "y": y(p.centre),
                "href": href,
                "tooltip": tooltip,
                "short": p.revision.sha[:10],
                "subject": p.revision.subject,
                "rounds": len(p.values),
                "value": value_text(p.centre, s.metric),
                "band": f"{value_text(p.low, s.metric)} – {value_text(p.high, s.metric)}",
                "step": p.step,
                "step_baseline": p.step_baseline[:10],
                "run_id": p.run_id,
                "change": p.position in changed,
            }
        )
        dots.extend({"x": x(p.position), "y": y(v)} for v in p.values)
    band = [f"{x(p.position)},{y(p.high)}" for p in s.points] + [
        f"{x(p.position)},{y(p.low)}" for p in reversed(s.points)
    ]
    every = max(1, math.ceil(commits / 16))
    xlabels = [
        {"x": x(p.position), "label": p.revision.sha[:7]}
        for p in s.points
        if p.position % every == 0 or p.position in changed
    ]
    return {
        "scenario": s.scenario,
        "name": s.name,
        "metric": s.metric,
        "anchor": re.sub(r"[^A-Za-z0-9_-]+", "-", f"{s.scenario}-{s.name}-{s.metric}"),
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": bottom,
        "yticks": [{"y": y(t), "label": value_text(t, s.metric)} for t in _ticks(low, high)],
        "band": " ".join(band),
        "line": " ".join(f"{pt['x']},{pt['y']}" for pt in points),
        "points": points,
        "dots": dots,
        "xlabels": xlabels,
        "changes": s.changes,
        "cps": [{"x": round(x(c.position) - step / 2, 1), "label": percent(c.ratio)} for c in s.changes],
    }


def render_trend(
    series: list[Series], *, title: str, commits: int, key: Key, confidence: float, reports: dict[str, Path], page: Path
) -> str:
    """The page's HTML; ``reports`` maps run ids to their HTML report files."""
    links = {run_id: Path(os.path.relpath(path, page.parent)).as_posix() for run_id, path in reports.items()}
    changes = [
        {
            "scenario": s.scenario,
            "name": s.name,
            "metric": s.metric,
            "short": c.revision.sha[:10],
            "subject": c.revision.subject,
            "before": value_text(c.before, s.metric),
            "after": value_text(c.after, s.metric),
            "change": percent(c.ratio),
        }
        for s in series
        for c in s.changes
    ]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    source = resources.files(__package__).joinpath("templates", "trend.html.j2").read_text(encoding="utf-8")
    template = env.from_string(source)
    return template.render(
        title=title,
        commits=commits,
        key=key,
        confidence=f"{confidence:.0%}",
        changes=changes,
        series=[_series_view(s, commits, links) for s in sorted(series, key=lambda s: not s.changes)],
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
    )
