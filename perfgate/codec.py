"""Plain-dict forms of the data model, for JSON files and the ``--json`` schema.

The ``--json`` verdict schema (version :data:`perfgate.model.SCHEMA_VERSION`)::

    {"schema_version": 6, "verdict": "pass|regression|inconclusive", "reason": str,
     "run_id": str, "baseline": Revision, "candidate": Revision,
     "rounds": int, "invalid_rounds": int, "confirmation_rounds": int,
     "notes": [str], "notes_data": [Note],
     "report": "path/to/report.html" | null,
     "metrics": [{"scenario", "name", "metric", "baseline", "candidate", "ratio",
                  "ci_low", "ci_high", "p_value", "verdict", "why", "reason",
                  "margin", "rounds", "higher_is_better"}]}

Revision is ``{"label", "sha", "subject", "author", "date", "dirty"}``; ``why`` is
``{"basis", "pairs", "need", "fisher_p", "beside", "text"}`` (:class:`perfgate.model.Reason`),
and both ``reason`` fields are its words, written for readers and ignored on read. Likewise
``notes_data`` holds each note as data (:class:`perfgate.model.Note`: ``kind`` and its figures)
and ``notes`` the same notes in words, in the same order. Version 2
adds the metric ``cpu_per_request`` (name ``(target)``: µs of the target's CPU per
request); version 3 changes only stored round records (typed window figures and ``health``);
version 4 adds ``why``; version 5 adds ``notes_data``; version 6 changes only stored round
records (``redundancy`` windows).

Stored records (the manifest, round records, the verdict) carry ``schema_version`` and
are checked on read: one from a newer perfgate is refused with a line naming the file.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields, replace
from typing import Any, TypeVar

from perfgate.errors import StoreError
from perfgate.figures import FIGURES_OF_KIND, FaultFigures, PhaseFigures, RedundancyFigures, WindowFigures
from perfgate.formatting import note_text, reason_text, verdict_text
from perfgate.model import (
    SCHEMA_VERSION,
    Basis,
    ClusterRound,
    Design,
    LoadStatus,
    Manifest,
    MetricComparison,
    Note,
    NoteKind,
    Reason,
    Revision,
    RoundHealth,
    RoundRecord,
    RunRow,
    Side,
    State,
    Verdict,
    Window,
)

_T = TypeVar("_T")


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
    return version  # the readers below migrate what changed


def _finite(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)  # the one NaN object: records read back compare equal


def verdict_to_dict(verdict: Verdict, report_path: str | None = None) -> dict[str, Any]:
    """The verdict as JSON: every figure, each reason as data (``why``) and, for people and
    tools that read the file, in words (``reason``)."""
    metrics = []
    for m in verdict.metrics:
        item = {k: (_finite(v) if isinstance(v, float) else v) for k, v in asdict(m).items()}
        item["verdict"] = m.verdict.value
        item["reason"] = reason_text(m)
        item["why"] = {**asdict(m.why), "fisher_p": _finite(m.why.fisher_p), "beside": [list(b) for b in m.why.beside]}
        metrics.append(item)
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": verdict.state.value,
        "reason": verdict_text(verdict),
        "run_id": verdict.run_id,
        "baseline": asdict(verdict.baseline),
        "candidate": asdict(verdict.candidate),
        "rounds": verdict.rounds,
        "invalid_rounds": verdict.invalid_rounds,
        "confirmation_rounds": verdict.confirmation_rounds,
        "notes": [note_text(note) for note in verdict.notes],
        "notes_data": [_note_to_dict(note) for note in verdict.notes],
        "report": report_path,
        "metrics": metrics,
    }


def verdict_from_dict(data: dict[str, Any], where: str = "verdict") -> Verdict:
    """A stored verdict; one older than version 4 keeps each metric's sentence (``Basis.STORED``)."""
    version = check_schema(data, where)
    metrics = []
    for item in data["metrics"]:
        item_fields = {k: v for k, v in item.items() if k != "reason"}
        for key in ("baseline", "candidate", "ratio", "ci_low", "ci_high", "p_value"):
            item_fields[key] = _number(item_fields[key])
        item_fields["verdict"] = State(item_fields["verdict"])
        item_fields["why"] = _reason(item["why"]) if version >= 4 else Reason(Basis.STORED, text=item["reason"])
        metrics.append(MetricComparison(**item_fields))
    return Verdict(
        state=State(data["verdict"]),
        metrics=tuple(metrics),
        baseline=Revision(**data["baseline"]),
        candidate=Revision(**data["candidate"]),
        run_id=data.get("run_id", ""),
        rounds=data.get("rounds", 0),
        invalid_rounds=data.get("invalid_rounds", 0),
        confirmation_rounds=data.get("confirmation_rounds", 0),
        notes=_notes(data, version),
    )


def _note_to_dict(note: Note) -> dict[str, Any]:
    """A note as JSON reads it back: its kind's value, lists for tuples."""
    data = asdict(note)
    data.update(
        kind=note.kind.value,
        needs=[list(n) for n in note.needs],
        looks=list(note.looks),
        judged_at=list(note.judged_at),
        runs=list(note.runs),
        reused=[list(r) for r in note.reused],
    )
    return data


def _notes(data: dict[str, Any], version: int) -> tuple[Note, ...]:
    """A verdict's notes: as data from version 5 on, an older one's sentences as they were."""
    if version < 5:
        return tuple(Note(NoteKind.STORED, text=str(text)) for text in data.get("notes", ()))
    notes = []
    for item in data.get("notes_data", ()):
        note = _known(Note, item)
        notes.append(
            replace(
                note,
                kind=NoteKind(note.kind),
                needs=tuple((str(metric), float(needed)) for metric, needed in note.needs),
                looks=tuple(int(look) for look in note.looks),
                judged_at=tuple(int(look) for look in note.judged_at),
                runs=tuple(str(run) for run in note.runs),
                reused=tuple((str(scenario), int(pairs)) for scenario, pairs in note.reused),
            )
        )
    return tuple(notes)


def _reason(data: dict[str, Any]) -> Reason:
    reason = _known(Reason, data)
    beside = tuple((str(name), float(delta)) for name, delta in reason.beside)
    return replace(reason, basis=Basis(reason.basis), fisher_p=_number(reason.fisher_p), beside=beside)


def round_to_dict(record: RoundRecord) -> dict[str, Any]:
    data = asdict(record)
    data["design"] = record.design.value
    data["sides"] = [s.value for s in record.sides]
    data["schema_version"] = SCHEMA_VERSION
    return data


def _known(cls: type[_T], data: Any) -> _T:
    """``cls`` (a dataclass) from the keys of ``data`` it has fields for; the rest keep their defaults."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    items = data.items() if isinstance(data, dict) else ()
    return cls(**{k: v for k, v in items if k in names})


def window_from_dict(data: dict[str, Any]) -> Window:
    """A window, its figures typed by its kind. Before version 3 the side sat in the figures."""
    stored = data.get("detail")
    detail: dict[str, Any] = stored if isinstance(stored, dict) else {}
    kind = str(data["kind"])
    figures: WindowFigures | None = None
    if kind == "fault" and "spec" not in detail:  # version 1-2: the spec's keys sat beside the plan's
        spec = {k: v for k, v in detail.items() if k not in ("planned_start_ns", "planned_end_ns", "side")}
        figures = FaultFigures(
            link=str(detail.get("link", "")),
            toxic=str(detail.get("toxic", "")),
            planned_start_ns=int(detail.get("planned_start_ns", 0)),
            planned_end_ns=int(detail.get("planned_end_ns", 0)),
            spec=spec,
        )
    elif kind == "redundancy":
        figures = _redundancy(detail)
    elif kind in FIGURES_OF_KIND:
        figures = _known(FIGURES_OF_KIND[kind], detail)
    side = data.get("side") or detail.get("side") or ""
    return Window(kind, str(data["label"]), int(data["start_ns"]), int(data["end_ns"]), figures, str(side))


def _redundancy(detail: dict[str, Any]) -> RedundancyFigures:
    """Redundancy figures with their phases typed (JSON holds them as lists of objects)."""
    figures = _known(RedundancyFigures, detail)
    phases = tuple(
        replace(phase, spans=tuple((int(a), int(b)) for a, b in phase.spans))
        for phase in (_known(PhaseFigures, p) for p in detail.get("phases") or ())
    )
    return replace(figures, phases=phases, shed_ms=tuple(detail.get("shed_ms") or ()))


def health_from_dict(data: dict[str, Any]) -> RoundHealth:
    """A round's health; version 1-2 rounds kept it in ``extra``, the cluster's part flat."""
    cluster = data.get("cluster")
    if cluster is None and "cluster_run" in data:
        cluster = {
            "run_id": data["cluster_run"],
            "round": str(data.get("cluster_round", "")),
            "workers": data.get("workers", 0),
            "clock_offsets_ns": data.get("clock_offsets_ns") or {},
        }
    health = _known(RoundHealth, {k: v for k, v in data.items() if k != "cluster"})
    return replace(health, cluster=_known(ClusterRound, cluster) if cluster else None)


def round_from_dict(data: dict[str, Any], where: str = "round record") -> RoundRecord:
    version = check_schema(data, where)
    values = {k: v for k, v in data.items() if k in RoundRecord.__dataclass_fields__}
    values["design"] = Design(values["design"])
    values["sides"] = tuple(Side(s) for s in values["sides"])
    values["windows"] = tuple(window_from_dict(w) for w in values.get("windows", ()))
    values["health"] = health_from_dict(data.get("health" if version >= 3 else "extra") or {})
    return RoundRecord(**values)


def load_status_to_dict(status: LoadStatus) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, **asdict(status)}


def load_status_from_dict(data: dict[str, Any], where: str = "load status") -> LoadStatus:
    """A load process's status; one without ``ok`` reads as a failure that says so."""
    check_schema(data, where)
    if "ok" not in data:
        data = {**data, "ok": False, "error": data.get("error") or f"{where} has no result"}
    status = _known(LoadStatus, data)
    return replace(status, ok=status.ok is True, classes=tuple(status.classes))


def run_row_from_dict(data: Any, where: str) -> RunRow:
    """A run's index row, checked: text fields are strings and ``created`` is a number."""
    if not isinstance(data, dict):
        raise StoreError(f"{where}: the run index row is not an object")
    created = data.get("created", 0)
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        raise StoreError(f"{where}: the run index row's 'created' is not a number")
    text = {k: data.get(k, "") for k in ("run_id", "baseline", "candidate", "config_hash", "fingerprint")}
    text |= {"kind": data.get("kind", "run"), "state": data.get("state", "running")}
    wrong = sorted(k for k, v in text.items() if not isinstance(v, str))
    if wrong:
        raise StoreError(f"{where}: the run index row's {', '.join(repr(k) for k in wrong)} is not a string")
    return RunRow(created=float(created), **text)


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
        repository_url=str(data.get("repository_url", "")),
    )
