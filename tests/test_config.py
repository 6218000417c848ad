from pathlib import Path

import pytest

from perfgate.commands.init import template
from perfgate.config import Config, RoundsConfig, ScenarioConfig, load_config
from perfgate.errors import ConfigError
from perfgate.model import Design
from tests.tomlwrite import dumps as toml_dumps


def write(tmp_path: Path, text: str, name: str = "perfgate.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_init_template_is_the_defaults(tmp_path):
    config = load_config(write(tmp_path, template()))  # formatted from the defaults: it cannot drift
    default = Config(path=config.path, root=config.root)
    assert config.target == default.target
    assert config.rounds == default.rounds
    assert config.judge == default.judge
    assert config.scenarios == (ScenarioConfig(name="chat"),)


def test_scenarios_inherit_load_keys(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
[load]
users = 3
[scenarios.a]
[scenarios.b]
users = 5
duration = 2.5
[rounds]
design = "interleaved"
count = 4
""",
        )
    )
    default_duration, default_budget = ScenarioConfig(name="a").duration, RoundsConfig().max
    assert [(s.name, s.users, s.duration) for s in config.scenarios] == [("a", 3, default_duration), ("b", 5, 2.5)]
    assert config.rounds.design is Design.INTERLEAVED
    assert config.rounds.max == default_budget


def test_pyproject_tool_table(tmp_path):
    write(tmp_path, "[project]\nname='x'\n[tool.perfgate.judge]\nmargin = 0.1\n", "pyproject.toml")
    assert load_config(directory=tmp_path).judge.margin == 0.1


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[load]\nuserz = 3\n", "[load] userz: unknown key"),
        ("[load]\nusers = 'many'\n", "[load] users: must be an integer"),
        ("[load]\nusers = 0\n", "[load] users: must be at least 1"),
        ("[rounds]\ndesign = 'both'\n", "[rounds] design: must be one of duet, interleaved"),
        ("[rounds]\ncount = 8\nmax = 4\n", "[rounds] max: must be at least rounds.count"),
        ("[target]\ncommand = 'run {prot}'\n", "[target] command: unknown placeholder {prot}"),
        ("[judge]\nmetrics = ['p42']\n", "[judge] metrics: unknown metric 'p42'"),
        ("[judge.margins]\n'login.p77' = 0.1\n", "[judge.margins] login.p77: unknown metric"),
        ("[judge]\ninconclusive = 'maybe'\n", "[judge] inconclusive: must be one of fail, pass, warn"),
        ("[target]\nready_probe = 'udp'\n", "[target] ready_probe: must be one of http, tcp, not 'udp'"),
        ("surprise = 1\n", "surprise: unknown key"),
        ("[load\n", "invalid TOML"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config(tmp_path):
    with pytest.raises(ConfigError, match="perfgate init"):
        load_config(directory=tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_margins_per_name_and_metric(tmp_path):
    judge = load_config(write(tmp_path, "[judge.margins]\np99 = 0.1\n'login.p95' = 0.2\n")).judge
    assert judge.margin_for("send", "p99") == 0.1
    assert judge.margin_for("login", "p95") == 0.2
    assert judge.margin_for("login", "p50") == 0.05


def test_measurement_hash_ignores_judging(tmp_path):
    a = load_config(write(tmp_path, "[judge]\nmargin = 0.2\n"))
    b = load_config(write(tmp_path, "[load]\nusers = 9\n", "other.toml"))
    c = load_config(write(tmp_path, "", "plain.toml"))
    assert a.measurement_hash() == c.measurement_hash() != b.measurement_hash()


@pytest.mark.parametrize(
    "written, seconds",
    [(10, 10.0), ("10s", 10.0), ("250ms", 0.25), ("2m", 120.0), ("1m30s", 90.0), ("1.5m", 90.0), (" 12 ", 12.0)],
)
def test_durations_take_locusts_forms(tmp_path, written, seconds):
    (tmp_path / "perfgate.toml").write_text(toml_dumps({"load": {"duration": "2m", "warmup": written}}))
    config = load_config(directory=tmp_path)
    assert config.scenarios[0].warmup == seconds and config.scenarios[0].duration == 120.0


@pytest.mark.parametrize("written", ["10 sec", "-2s", "s", "10x", "1e400s"])
def test_a_bad_duration_is_one_line_naming_the_key(tmp_path, written):
    (tmp_path / "perfgate.toml").write_text(toml_dumps({"load": {"duration": written}}))
    with pytest.raises(ConfigError, match=r"\[load\] duration: must be a duration such as 10"):
        load_config(directory=tmp_path)


def test_metrics_path_false_turns_the_metrics_endpoint_off(tmp_path):
    (tmp_path / "perfgate.toml").write_text("[target]\nmetrics_path = false\n")
    assert load_config(directory=tmp_path).target.metrics_path is None
    (tmp_path / "perfgate.toml").write_text('[target]\nmetrics_path = "/stats"\n')
    assert load_config(directory=tmp_path).target.metrics_path == "/stats"
