"""``perfgate.toml`` (or ``[tool.perfgate]`` in ``pyproject.toml``) → a typed :class:`Config`.

Loading validates every key; every error names the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from perfgate.config.settings import (
    CONFIG_NAME,
    DATABASES,
    GROUP_KEYS,
    INCONCLUSIVE_POLICIES,
    MEMBER_PLACEHOLDERS,
    METRICS,
    PLACEHOLDERS,
    READY_PROBES,
    RESERVED_GROUP_NAMES,
    SETUP_PLACEHOLDERS,
    STORM_KEYS,
    Config,
    JudgeConfig,
    LiveConfig,
    RoundsConfig,
    ScenarioConfig,
    TargetConfig,
    split_metric_spec,
)
from perfgate.errors import ConfigError
from perfgate.limits import MARGIN_HIGH, MARGIN_LOW, MAX_ROUNDS_HIGH, ROUNDS_HIGH, ROUNDS_LOW
from perfgate.machine import PLACEMENTS
from perfgate.model import Design
from perfgate.validator import Validator


def find_config(directory: Path) -> Path:
    for candidate in (directory / CONFIG_NAME, directory / "pyproject.toml"):
        if candidate.is_file() and (candidate.name == CONFIG_NAME or _has_tool_table(candidate)):
            return candidate
    raise ConfigError(f"no {CONFIG_NAME} or [tool.perfgate] in pyproject.toml in {directory} (run `perfgate init`)")


def load_config(path: Path | None = None, *, directory: Path | None = None) -> Config:
    """Load and validate a config file; ``path=None`` searches ``directory``."""
    path = (Path(path) if path else find_config(Path(directory or Path.cwd()))).resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    if path.name == "pyproject.toml":
        raw = raw.get("tool", {}).get("perfgate")
        if raw is None:
            raise ConfigError(f"{path}: no [tool.perfgate] table")
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path) -> Config:
    v = Validator(path)
    v.known(raw, "", {"target", "load", "scenarios", "rounds", "judge", "live", "store", "report"})
    target = _parse_target(v, raw.get("target", {}))
    defaults = _parse_scenario(v, raw.get("load", {}), "load", ScenarioConfig(name="chat"))
    scenarios = _parse_scenarios(v, raw.get("scenarios", {}), defaults)
    rounds = _parse_rounds(v, raw.get("rounds", {}))
    judge = _parse_judge(v, raw.get("judge", {}))
    store = raw.get("store", {})
    report = raw.get("report", {})
    v.known(store, "store", {"path"})
    v.known(report, "report", {"dir"})
    return Config(
        path=path,
        root=path.parent,
        target=target,
        scenarios=scenarios,
        rounds=rounds,
        judge=judge,
        live=_parse_live(v, raw.get("live", {})),
        store=v.string(store, "store", "path", ".perfgate"),
        report_dir=v.string(report, "report", "dir", "reports"),
    )


def _parse_target(v: Validator, raw: dict[str, Any]) -> TargetConfig:
    d = TargetConfig()
    v.known(raw, "target", set(TargetConfig.__dataclass_fields__))
    command = v.string(raw, "target", "command", d.command)
    v.command("target", command, PLACEHOLDERS)
    env = raw.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(x, str) for x in env.values()):
        raise v.error("target", "env", "must be a table of strings")
    setup = raw.get("setup", d.setup)
    if not isinstance(setup, str):
        raise v.error("target", "setup", "must be a string (a shell command)")
    v.command("target", setup, SETUP_PLACEHOLDERS, "setup")
    return TargetConfig(
        command=command,
        ready_path=v.string(raw, "target", "ready_path", d.ready_path),
        ready_probe=v.choice(raw, "target", "ready_probe", d.ready_probe, READY_PROBES),
        metrics_path=None if raw.get("metrics_path") is False else v.string(raw, "target", "metrics_path", "/metrics"),
        ready_timeout=v.duration(raw, "target", "ready_timeout", d.ready_timeout, low=0.1),
        stop_timeout=v.duration(raw, "target", "stop_timeout", d.stop_timeout, low=0.1),
        port=int(v.number(raw, "target", "port", d.port, low=0, high=65535, integer=True)),
        env=dict(env),
        setup=setup,
        setup_timeout=v.duration(raw, "target", "setup_timeout", d.setup_timeout, low=1.0),
        **{key: _url(v, raw, key) for key in ("baseline_url", "candidate_url")},
        version_path=v.string(raw, "target", "version_path", "/") if "version_path" in raw else "",
    )


def _url(v: Validator, raw: dict[str, Any], key: str) -> str:
    if key not in raw:
        return ""
    url = v.string(raw, "target", key, "")
    if not url.startswith(("http://", "https://")):
        raise v.error("target", key, f"must be an http:// or https:// URL, not {url!r}")
    return url.rstrip("/")


def _parse_live(v: Validator, raw: dict[str, Any]) -> LiveConfig:
    d = LiveConfig()
    v.known(raw, "live", set(LiveConfig.__dataclass_fields__))
    return LiveConfig(
        rate=v.number(raw, "live", "rate", 0, low=0.1) if "rate" in raw else None,
        max_requests=int(v.number(raw, "live", "max_requests", 0, low=1, integer=True))
        if "max_requests" in raw
        else None,
        max_duration=v.duration(raw, "live", "max_duration", 0, low=1.0) if "max_duration" in raw else None,
        abort_error_rate=v.number(raw, "live", "abort_error_rate", d.abort_error_rate, low=0.001, high=1.0),
        allow_writes=v.flag(raw, "live", "allow_writes", d.allow_writes),
    )


def _parse_scenario(v: Validator, raw: dict[str, Any], section: str, d: ScenarioConfig) -> ScenarioConfig:
    keys = set(ScenarioConfig.__dataclass_fields__) - {"name"}
    v.known(raw, section, keys)
    classes = raw.get("user_classes", list(d.user_classes))
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise v.error(section, "user_classes", "must be a non-empty list of class names")
    for key in ("faults", "chaos"):
        items = raw.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise v.error(section, key, "must be an array of tables")
    tags = {key: raw.get(key, list(getattr(d, key))) for key in ("tags", "exclude_tags")}
    for key, names in tags.items():
        if not isinstance(names, list) or not all(isinstance(t, str) and t for t in names):
            raise v.error(section, key, "must be a list of Locust tag names")
    groups = _groups(v, raw.get("groups", d.groups), section)
    command = raw.get("command", d.command)
    if not isinstance(command, str):
        raise v.error(section, "command", f"must be a string, not {command!r}")
    if command:
        v.command(section, command, PLACEHOLDERS | set(groups))
    for key in ("storm", "monkey"):
        if not isinstance(raw.get(key, {}), dict):
            raise v.error(section, key, "must be a table")
    storm = raw.get("storm", d.storm)
    for key in storm:
        if key not in STORM_KEYS:
            raise v.error(f"{section}.storm", key, f"unknown key (known: {', '.join(STORM_KEYS)})")
        v.number(storm, f"{section}.storm", key, 0, low=0)
    return replace(
        d,
        locustfile=v.string(raw, section, "locustfile", d.locustfile),
        user_classes=tuple(classes),
        users=int(v.number(raw, section, "users", d.users, low=1, integer=True)),
        spawn_rate=v.number(raw, section, "spawn_rate", d.spawn_rate, low=0.01),
        warmup=v.duration(raw, section, "warmup", d.warmup),
        duration=v.duration(raw, section, "duration", d.duration, low=0.5),
        workers=int(v.number(raw, section, "workers", d.workers, low=0, high=64, integer=True)),
        command=command,
        database=v.choice(raw, section, "database", d.database, DATABASES) if "database" in raw else d.database,
        faults=tuple(raw.get("faults", d.faults)),
        chaos=tuple(raw.get("chaos", d.chaos)),
        monkey=dict(raw.get("monkey", d.monkey)),
        storm=dict(storm),
        tags=tuple(tags["tags"]),
        exclude_tags=tuple(tags["exclude_tags"]),
        shape=_shape(v, raw, section, d.shape),
        credentials=v.string(raw, section, "credentials", d.credentials) if "credentials" in raw else d.credentials,
        groups=groups,
        read_only=v.flag(raw, section, "read_only", d.read_only),
    )


def _groups(v: Validator, raw: Any, section: str) -> dict[str, Any]:
    """``[scenarios.X.groups.NAME]`` tables, checked and with their defaults filled in."""
    if not isinstance(raw, dict):
        raise v.error(section, "groups", "must be a table of [groups.NAME] tables")
    out: dict[str, Any] = {}
    for name, table in raw.items():
        here = f"{section}.groups.{name}"
        if not name.isidentifier() or name in RESERVED_GROUP_NAMES:
            raise v.error(f"{section}.groups", name, "a group name must be an identifier other than a placeholder's")
        v.known(table, here, set(GROUP_KEYS))
        members = table.get("members")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
            raise v.error(here, "members", "must be a non-empty list of commands, one per member")
        for i, member in enumerate(members):
            v.command(here, member, MEMBER_PLACEHOLDERS, f"members[{i}]")
        out[name] = {
            "members": list(members),
            "ready_path": v.string(table, here, "ready_path", "/healthz"),
            "ready_timeout": v.duration(table, here, "ready_timeout", 30.0, low=0.1),
        }
    return out


def _shape(v: Validator, raw: dict[str, Any], section: str, default: str | bool) -> str | bool:
    shape = raw.get("shape", default)
    if not isinstance(shape, (str, bool)) or shape == "":
        raise v.error(section, "shape", f"must be a LoadTestShape class name, true or false, not {shape!r}")
    return shape


def _parse_scenarios(v: Validator, raw: Any, defaults: ScenarioConfig) -> tuple[ScenarioConfig, ...]:
    if not isinstance(raw, dict):
        raise v.error("", "scenarios", "must be a table of [scenarios.NAME] tables")
    if not raw:
        return (defaults,)
    scenarios = []
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise v.error("scenarios", name, "must be a table")
        scenarios.append(_parse_scenario(v, table, f"scenarios.{name}", replace(defaults, name=name)))
    return tuple(scenarios)


def _parse_rounds(v: Validator, raw: dict[str, Any]) -> RoundsConfig:
    d = RoundsConfig()
    v.known(raw, "rounds", set(RoundsConfig.__dataclass_fields__))
    design = v.choice(raw, "rounds", "design", d.design.value, [x.value for x in Design])
    count = int(v.number(raw, "rounds", "count", d.count, low=ROUNDS_LOW, high=ROUNDS_HIGH, integer=True))
    budget = int(v.number(raw, "rounds", "max", max(d.max, count), low=ROUNDS_LOW, high=MAX_ROUNDS_HIGH, integer=True))
    if budget < count:
        raise v.error("rounds", "max", f"must be at least rounds.count ({count})")
    seed = raw.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise v.error("rounds", "seed", "must be an integer")
    placement = v.choice(raw, "rounds", "placement", d.placement, PLACEMENTS)
    return RoundsConfig(design=Design(design), count=count, max=budget, seed=seed, placement=placement)


def _parse_judge(v: Validator, raw: dict[str, Any]) -> JudgeConfig:
    d = JudgeConfig()
    v.known(raw, "judge", set(JudgeConfig.__dataclass_fields__))
    margins = raw.get("margins", {})
    if not isinstance(margins, dict):
        raise v.error("judge", "margins", "must be a table of metric (or name.metric) = fraction")
    for key in margins:
        if split_metric_spec(key) is None:
            raise v.error("judge.margins", key, f"unknown metric (known: {', '.join(METRICS)}, or NAME.METRIC)")
        v.number(margins, "judge.margins", key, 0.0, low=MARGIN_LOW, high=MARGIN_HIGH)
    limits = raw.get("limits", {})
    if not isinstance(limits, dict):
        raise v.error("judge", "limits", 'must be a table of metric (or name.metric) = limit, as "login.p95" = "250ms"')
    metrics = raw.get("metrics", list(d.metrics))
    if not isinstance(metrics, list) or not metrics:
        raise v.error("judge", "metrics", "must be a non-empty list")
    for metric in metrics:
        if metric not in METRICS:
            raise v.error("judge", "metrics", f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    return JudgeConfig(
        margin=v.number(raw, "judge", "margin", d.margin, low=MARGIN_LOW, high=MARGIN_HIGH),
        margins={k: float(x) for k, x in margins.items()},
        confidence=v.number(raw, "judge", "confidence", d.confidence, low=0.5, high=0.999),
        metrics=tuple(metrics),
        inconclusive=v.choice(raw, "judge", "inconclusive", d.inconclusive, INCONCLUSIVE_POLICIES),
        min_count=int(v.number(raw, "judge", "min_count", d.min_count, low=1, integer=True)),
        limits={key: _limit(v, limits, key) for key in limits},
    )


def _limit(v: Validator, limits: dict[str, Any], key: str) -> float:
    """A [judge.limits] value in the metric's stored unit: a latency as a duration ("250ms", or
    milliseconds as a number), an error rate as a fraction, CPU per request in µs."""
    parsed = split_metric_spec(key)
    if parsed is None:
        raise v.error("judge.limits", key, f"unknown metric (known: {', '.join(METRICS)}, or NAME.METRIC)")
    metric = parsed[1]
    value = limits[key]
    if metric == "throughput":
        raise v.error("judge.limits", key, "a throughput limit (a floor, not a ceiling) is not supported")
    if metric == "error_rate":
        return v.number(limits, "judge.limits", key, 0.0, low=0.0, high=1.0)
    if metric in ("cpu_per_request", "rss_peak", "queue_peak", "cpu_mean"):
        return v.number(limits, "judge.limits", key, 0.0, low=0.0)
    if isinstance(value, str):  # a latency written as a duration
        return v.duration(limits, "judge.limits", key, 0.0) * 1e6
    return v.number(limits, "judge.limits", key, 0.0, low=0.0) * 1000.0  # a bare number is milliseconds


def _has_tool_table(pyproject: Path) -> bool:
    try:
        return "perfgate" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
