"""The shipped JSON Schemas are the code's (regenerated, equal), and real outputs validate."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from perfgate import schemas
from perfgate.codec import verdict_to_dict
from perfgate.commands.init import template
from perfgate.config import JudgeConfig, TargetConfig, load_config
from perfgate.errors import ConfigError
from perfgate.judge import judge
from perfgate.judge.invariants import with_checks
from perfgate.judge.limits import limit_checks
from tests.judge.helpers_judge import REV, noisy_ratios, pairs

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_schemas_are_generated_from_the_code(tmp_path):
    for written in schemas.write(tmp_path):
        shipped = schemas.SHIPPED / written.name
        assert json.loads(shipped.read_text()) == json.loads(written.read_text()), "run: python -m perfgate.schemas"


def test_a_real_verdict_validates_against_the_verdict_schema():
    rows = pairs(noisy_ratios(6, 0.3, 0.02, seed=3))
    config = JudgeConfig(metrics=("p50", "p95", "error_rate"), limits={"p95": 1.0})
    verdict = with_checks(judge(rows, config, REV, REV, run_id="r"), limit_checks(rows, config.limits))
    data = verdict_to_dict(verdict, report_path="reports/r.html")
    jsonschema.validate(data, json.loads((schemas.SHIPPED / "verdict.schema.json").read_text()))


@pytest.mark.parametrize(
    "text",
    [
        template(),  # perfgate init --demo
        template(TargetConfig(command="./serve --port {port}", metrics_path=None)),  # perfgate init
        (ROOT / "examples" / "quotes" / "perfgate.toml").read_text(),
    ],
    ids=["init-demo", "init", "example"],
)
def test_real_configs_validate_against_the_config_schema(text):
    jsonschema.validate(tomllib.loads(text), json.loads((schemas.SHIPPED / "config.schema.json").read_text()))


@pytest.mark.parametrize(
    "text",
    ['[target]\nport = "8080"\n', "[load]\nusers = 12\nusres = 3\n", '[rounds]\ndesign = "abab"\n', "[nope]\n"],
)
def test_what_the_schema_refuses_the_config_refuses_too(tmp_path, text):
    schema = json.loads((schemas.SHIPPED / "config.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(tomllib.loads(text), schema)
    (tmp_path / "perfgate.toml").write_text(text)
    with pytest.raises(ConfigError):
        load_config(directory=tmp_path)


def test_the_configuration_reference_is_generated_from_the_code():
    written = (ROOT / "docs" / "configuration.md").read_text()
    assert written == schemas.configuration_reference(), "run: python -m perfgate.schemas"
    for key in ("ready_timeout", "setup", "warmup", "placement", "limits", "margins", "inconclusive"):
        assert f"| `{key}` |" in written
