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

Stored records (the manifest, round records, the verdict) carry ``schema_version`` and
are checked on read: one from a newer perfgate is refused with a line naming the file.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from perfgate.errors import StoreError
from perfgate.model import (
    SCHEMA_VERSION,
    Design,
    Manifest,
    MetricComparison,
    Revision,
    RoundRecord,
    Side,
    State,
    Verdict,
    Window,
)


def check_schema(data: dict[str, Any], where: str) -> int:
    """The stored record's ``schema_version`` (1 when it has none: the first release wrote
    none in manifests); a record from a newer perfgate is refused, never half read."""
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StoreError(f"{where}: schema_version {version!r} is not a version number")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where}: written by a newer perfgate (schema_version {version}; this one reads up to "
            f"{SCHEMA_VERSION}): upgrade perfgate to read it"
        )
    return version  # 1 and 2 share every shape read here: nothing to migrate


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


def verdict_from_dict(data: dict[str, Any], where: str = "verdict") -> Verdict:
    check_schema(data, where)
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


def round_from_dict(data: dict[str, Any], where: str = "round record") -> RoundRecord:
    check_schema(data, where)
    fields = {k: v for k, v in data.items() if k != "schema_version"}
    fields["design"] = Design(fields["design"])
    fields["sides"] = tuple(Side(s) for s in fields["sides"])
    fields["windows"] = tuple(Window(**w) for w in fields.get("windows", ()))
    return RoundRecord(**fields)


def manifest_to_dict(manifest: Manifest) -> dict[str, Any]:
    data = asdict(manifest)
    data["scenarios"] = list(manifest.scenarios)
    data["schema_version"] = SCHEMA_VERSION
    return data


def _revision(data: dict[str, Any], side: str, where: str) -> Revision:
    revision = data.get(side)
    if not isinstance(revision, dict) or not isinstance(revision.get("sha"), str):
        raise StoreError(f"{where}: the manifest has no {side} revision (an object with a sha)")
    known = {k: v for k, v in revision.items() if k in Revision.__dataclass_fields__}
    try:
        return Revision(**{"label": "", **known})
    except TypeError as exc:
        raise StoreError(f"{where}: the manifest's {side} revision: {exc}") from exc


def manifest_from_dict(data: dict[str, Any], where: str = "manifest") -> Manifest:
    """A manifest from its stored form, checked: its version and both revisions must be there
    (the store checks the run id's name; an empty one asks :meth:`create_run` for a new id)."""
    check_schema(data, where)
    run_id = data.get("run_id", "")
    if not isinstance(run_id, str):
        raise StoreError(f"{where}: the manifest's run id is not a string")

    def mapping(key: str) -> dict[str, Any]:
        value = data.get(key)
        return dict(value) if isinstance(value, dict) else {}

    owner = data.get("owner")
    return Manifest(
        run_id=run_id,
        baseline=_revision(data, "baseline", where),
        candidate=_revision(data, "candidate", where),
        kind=str(data.get("kind", "run")),
        created=str(data.get("created", "")),
        config=mapping("config"),
        config_hash=str(data.get("config_hash", "")),
        fingerprint=str(data.get("fingerprint", "")),
        machine=mapping("machine"),
        versions={str(k): str(v) for k, v in mapping("versions").items()},
        command=str(data.get("command", "")),
        design=str(data.get("design", "")),
        scenarios=tuple(str(s) for s in data.get("scenarios") or ()),
        owner=dict(owner) if isinstance(owner, dict) else None,
    )
