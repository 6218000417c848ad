"""Plain-dict forms of the data model, for JSON files and the ``--json`` schema.

The ``--json`` verdict schema (version :data:`perfgate.model.SCHEMA_VERSION`)::

    {"schema_version": 2, "verdict": "pass|regression|inconclusive", "reason": str,
     "run_id": str, "baseline": Revision, "candidate": Revision,
     "rounds": int, "invalid_rounds": int, "confirmation_rounds": int, "notes": [str],
     "report": "path/to/report.html" | null,
     "metrics": [{"scenario", "name", "metric", "baseline", "candidate", "ratio",
                  "ci_low", "ci_high", "p_value", "verdict", "reason",
                  "margin", "rounds", "higher_is_better"}]}

Revision is ``{"label", "sha", "subject", "author", "date", "dirty"}``. Version 2
adds the metric ``cpu_per_request`` (name ``(target)``: µs of the target's CPU per
request); the shape is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from perfgate.model import (
    SCHEMA_VERSION,
    Design,
    MetricComparison,
    Revision,
    RoundRecord,
    Side,
    State,
    Verdict,
    Window,
)


def _finite(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def verdict_to_dict(verdict: Verdict, report_path: str | None = None) -> dict[str, Any]:
    metrics = []
    for m in verdict.metrics:
        item = {k: (_finite(v) if isinstance(v, float) else v) for k, v in asdict(m).items()}
        item["verdict"] = m.verdict.value
        metrics.append(item)
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": verdict.state.value,
        "reason": verdict.reason,
        "run_id": verdict.run_id,
        "baseline": asdict(verdict.baseline),
        "candidate": asdict(verdict.candidate),
        "rounds": verdict.rounds,
        "invalid_rounds": verdict.invalid_rounds,
        "confirmation_rounds": verdict.confirmation_rounds,
        "notes": list(verdict.notes),
        "report": report_path,
        "metrics": metrics,
    }


def verdict_from_dict(data: dict[str, Any]) -> Verdict:
    metrics = []
    for item in data["metrics"]:
        fields = dict(item)
        for key in ("baseline", "candidate", "ratio", "ci_low", "ci_high", "p_value"):
            fields[key] = _number(fields[key])
        fields["verdict"] = State(fields["verdict"])
        metrics.append(MetricComparison(**fields))
    return Verdict(
        state=State(data["verdict"]),
        reason=data["reason"],
        metrics=tuple(metrics),
        baseline=Revision(**data["baseline"]),
        candidate=Revision(**data["candidate"]),
        run_id=data.get("run_id", ""),
        rounds=data.get("rounds", 0),
        invalid_rounds=data.get("invalid_rounds", 0),
        confirmation_rounds=data.get("confirmation_rounds", 0),
        notes=tuple(data.get("notes", ())),
    )


def round_to_dict(record: RoundRecord) -> dict[str, Any]:
    data = asdict(record)
    data["design"] = record.design.value
    data["sides"] = [s.value for s in record.sides]
    data["schema_version"] = SCHEMA_VERSION
    return data


def round_from_dict(data: dict[str, Any]) -> RoundRecord:
    fields = {k: v for k, v in data.items() if k != "schema_version"}
    fields["design"] = Design(fields["design"])
    fields["sides"] = tuple(Side(s) for s in fields["sides"])
    fields["windows"] = tuple(Window(**w) for w in fields.get("windows", ()))
    return RoundRecord(**fields)
