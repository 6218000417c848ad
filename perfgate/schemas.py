"""JSON Schemas of ``perfgate.toml`` and of the ``--json`` verdict, generated from the data model
and the config's dataclasses (so they cannot drift), and shipped in ``perfgate/schema_files/``.

    python -m perfgate.schemas          # rewrite the shipped files from the code
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from perfgate.config import (
    DATABASES,
    INCONCLUSIVE_POLICIES,
    METRICS,
    READY_PROBES,
    JudgeConfig,
    LiveConfig,
    RoundsConfig,
    ScenarioConfig,
    TargetConfig,
)
from perfgate.machine import PLACEMENTS
from perfgate.model import SCHEMA_VERSION, Design, MetricComparison, Note, Reason, Revision, State

SHIPPED = Path(__file__).resolve().parent / "schema_files"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
_DURATION_TEXT = r"^\s*([0-9]*\.?[0-9]+\s*(ms|h|m|s)\s*)+$|^\s*[0-9]*\.?[0-9]+\s*$"
DURATION = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": _DURATION_TEXT}]}
#: Keys whose values are durations; enums, and keys the dataclass types do not say enough about.
DURATIONS = {"warmup", "duration", "ready_timeout", "stop_timeout", "setup_timeout", "max_duration"}
SPECIAL: dict[str, dict[str, Any]] = {
    "design": {"enum": [d.value for d in Design]},
    "placement": {"enum": list(PLACEMENTS)},
    "inconclusive": {"enum": list(INCONCLUSIVE_POLICIES)},
    "database": {"enum": list(DATABASES)},
    "ready_probe": {"enum": list(READY_PROBES)},
    "metrics": {"type": "array", "items": {"enum": list(METRICS)}, "minItems": 1},
    "metrics_path": {"anyOf": [{"type": "string", "minLength": 1}, {"const": False}]},
    "shape": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "boolean"}]},
    "faults": {"type": "array", "items": {"type": "object"}},
    "chaos": {"type": "array", "items": {"type": "object"}},
    "monkey": {"type": "object"},
    "storm": {"type": "object"},
    "groups": {"type": "object", "additionalProperties": {"type": "object"}},
    "limits": {"type": "object", "additionalProperties": {"anyOf": [{"type": "number"}, {"type": "string"}]}},
    "margins": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
    "seed": {"type": ["integer", "null"]},
    "rate": {"type": "number", "minimum": 0.1},  # [live]: required there for live targets, no default
    "max_requests": {"type": "integer", "minimum": 1},
}


def _type_schema(hint: Any, stored: bool = True) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [_type_schema(a, stored) for a in typing.get_args(hint)]
        return {"anyOf": options}
    if hint is type(None):
        return {"type": "null"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:  # a stored record writes a non-finite number as null; a config has none
        return {"type": ["number", "null"]} if stored else {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [s.value for s in hint]}
    if origin is tuple and typing.get_args(hint) and Ellipsis not in typing.get_args(hint):  # a fixed tuple
        items = [_type_schema(a, stored) for a in typing.get_args(hint)]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return {"type": "array", "items": _type_schema(args[0], stored) if args else {}}
    if origin is dict or hint is dict:
        return {"type": "object"}
    if dataclasses.is_dataclass(hint):
        return _object(hint)
    return {}


def _object(cls: Any, exclude: tuple[str, ...] = (), special: bool = False) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {}
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        if special and f.name in DURATIONS:
            properties[f.name] = DURATION
        elif special and f.name in SPECIAL:
            properties[f.name] = SPECIAL[f.name]
        else:
            properties[f.name] = _type_schema(hints[f.name], stored=not special)
    return {"type": "object", "properties": properties, "additionalProperties": False}


def verdict_schema() -> dict[str, Any]:
    """The ``--json`` verdict (and stored ``verdict.json``), as :func:`perfgate.codec.verdict_to_dict` writes it."""
    revision = _object(Revision)
    revision["required"] = ["sha"]
    metric = _object(MetricComparison)
    metric["properties"]["reason"] = {"type": "string"}  # the reason in words, beside it as data (why)
    metric["required"] = [f.name for f in dataclasses.fields(MetricComparison)] + ["reason"]
    metric["properties"]["why"]["required"] = [f.name for f in dataclasses.fields(Reason)]
    note = _object(Note)  # a note as data, beside it in words (notes)
    note["required"] = [f.name for f in dataclasses.fields(Note)]
    return {
        "$schema": DRAFT,
        "$id": "https://perfgate.invalid/schemas/verdict.schema.json",
        "title": f"perfgate --json verdict (schema_version {SCHEMA_VERSION})",
        "type": "object",
        "required": ["schema_version", "verdict", "reason", "baseline", "candidate", "metrics"],
        "additionalProperties": False,
        "properties": {
            "schema_version": {"type": "integer", "minimum": 1, "maximum": SCHEMA_VERSION},
            "verdict": {"enum": [State.PASS.value, State.REGRESSION.value, State.INCONCLUSIVE.value]},
            "reason": {"type": "string"},
            "run_id": {"type": "string"},
            "baseline": revision,
            "candidate": revision,
            "rounds": {"type": "integer", "minimum": 0},
            "invalid_rounds": {"type": "integer", "minimum": 0},
            "confirmation_rounds": {"type": "integer", "minimum": 0},
            "notes": {"type": "array", "items": {"type": "string"}},
            "notes_data": {"type": "array", "items": note},
            "report": {"type": ["string", "null"]},
            "metrics": {"type": "array", "items": metric},
        },
    }


def config_schema() -> dict[str, Any]:
    """``perfgate.toml`` (or ``[tool.perfgate]``): every table and key the config reads."""
    load = _object(ScenarioConfig, exclude=("name",), special=True)
    return {
        "$schema": DRAFT,
        "$id": "https://perfgate.invalid/schemas/config.schema.json",
        "title": "perfgate.toml",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "target": _object(TargetConfig, special=True),
            "load": load,
            "scenarios": {"type": "object", "additionalProperties": load},
            "rounds": _object(RoundsConfig, special=True),
            "judge": _object(JudgeConfig, special=True),
            "live": _object(LiveConfig, special=True),
            "store": {"type": "object", "properties": {"path": {"type": "string"}}, "additionalProperties": False},
            "report": {"type": "object", "properties": {"dir": {"type": "string"}}, "additionalProperties": False},
        },
    }


def configuration_reference() -> str:
    """docs/configuration.md: every table and key of perfgate.toml with its type and default,
    from the same dataclasses the config is parsed into."""
    schema = config_schema()["properties"]
    defaults = {
        "target": TargetConfig(),
        "load": ScenarioConfig(name="chat"),
        "rounds": RoundsConfig(),
        "judge": JudgeConfig(),
        "live": LiveConfig(),
    }
    lines = [
        "# Configuration reference",
        "",
        "`perfgate.toml`, or `[tool.perfgate]` in `pyproject.toml`. Every key is optional. Generated from",
        "the config's dataclasses by `python -m perfgate.schemas` (a test keeps it in step); the JSON",
        "Schema beside it is `perfgate/schema_files/config.schema.json`. Durations take seconds or",
        '`"250ms"`, `"10s"`, `"2m"`. `[scenarios.NAME]` tables take every `[load]` key.',
    ]
    for table, default in defaults.items():
        lines += ["", f"## `[{table}]`", "", "| key | type | default |", "|---|---|---|"]
        for key, spec in schema[table]["properties"].items():
            if table == "load" and key == "name":
                continue
            value = getattr(default, key)
            shown = json.dumps(value.value if hasattr(value, "value") else value, default=list)
            lines.append(f"| `{key}` | {_type_name(spec)} | `{shown}` |")
    lines += [
        "",
        "`[live]` applies to live targets only (`[target] baseline_url`/`candidate_url`, or",
        "`--baseline-url`/`--candidate-url`, and `perfgate nodes`); there `rate` (requests/s per side),",
        "`max_requests` (per side, over the run) and `max_duration` have no default and are required.",
    ]
    lines += ["", "## `[store]`, `[report]`", "", "| key | type | default |", "|---|---|---|"]
    lines += ['| `[store] path` | string (a folder, or `s3://bucket/prefix`) | `".perfgate"` |']
    lines += ['| `[report] dir` | string | `"reports"` |', ""]
    return "\n".join(lines)


def _type_name(spec: dict[str, Any]) -> str:
    if spec is DURATION:
        return "duration"
    if "enum" in spec:
        return " \\| ".join(json.dumps(v) for v in spec["enum"])
    if "anyOf" in spec:
        return " or ".join(_type_name(s) for s in spec["anyOf"])
    if "const" in spec:
        return json.dumps(spec["const"])
    kind = spec.get("type", "any")
    if kind == "array" and "items" in spec:
        return f"array of {_type_name(spec['items'])}"
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def write(folder: Path = SHIPPED) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in (("verdict", verdict_schema()), ("config", config_schema())):
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

if __name__ == "__main__":
    for written in write(Path(sys.argv[1]) if len(sys.argv) > 1 else SHIPPED):
        print(written)
    if REFERENCE.parent.is_dir():  # a checkout of the repository, not an installed wheel
        REFERENCE.write_text(configuration_reference(), encoding="utf-8")
        print(REFERENCE)
