"""The typed settings of ``perfgate.toml``: frozen dataclasses with their defaults, the names and
bounds the loader checks against, and ``Config.measurement_hash()``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from perfgate.errors import ConfigError
from perfgate.model import Design

CONFIG_NAME = "perfgate.toml"
PLACEHOLDERS = frozenset(
    {"port", "data_dir", "python", "worktree", "host", "db_args", "db_primary", "db_replica"}
)  # db_*: scenarios with a database
#: A setup command runs once per checkout, before any port or data folder exists.
SETUP_PLACEHOLDERS = frozenset({"python", "worktree"})
DATABASES = ("", "mariadb")
#: How a target is probed until ready: HTTP 200 at ready_path, or a TCP connect to its port (XMPP, SMTP, ...).
READY_PROBES = ("http", "tcp")
METRICS = (
    "p50",
    "p90",
    "p95",
    "p99",
    "p99.9",
    "mean",
    "throughput",
    "error_rate",
    "rss_peak",
    "queue_peak",
    "cpu_mean",
    "cpu_per_request",
)  # the last four: the target's resources
INCONCLUSIVE_POLICIES = ("fail", "pass", "warn")
#: Default margins of metrics whose A/A noise is far below the latencies' (derived from the
#: regression ladder's recorded A/A pairs: BENCHMARKS.md).
METRIC_MARGINS: dict[str, float] = {"cpu_per_request": 0.02}
#: [scenarios.X.groups.NAME] keys: a group of N dependency processes per side (perfgate.faults.group).
GROUP_KEYS = ("members", "ready_path", "ready_timeout")
#: What a group member's command may use: its own port and data folder, and the checkout's.
MEMBER_PLACEHOLDERS = frozenset({"port", "data_dir", "python", "worktree", "host"})
#: Names a group cannot take: the target's placeholders and the built-in links.
RESERVED_GROUP_NAMES = PLACEHOLDERS | {"target", "primary"}
#: [scenarios.X.storm] keys, passed to loadtests/storm.py as PERFGATE_STORM_<KEY>.
STORM_KEYS = ("logins", "clients", "at", "timeout")


@dataclass(frozen=True)
class TargetConfig:
    command: str = "{python} -m loadtests.imserver --port {port} --data {data_dir} --seed-cache .imserver-seed"
    ready_path: str = "/healthz"
    ready_probe: str = "http"  # "tcp": ready once the port accepts a connection (ready_path is then unused)
    metrics_path: str | None = "/metrics"  # JSON or Prometheus text; None (false): no metrics endpoint
    ready_timeout: float = 30.0
    stop_timeout: float = 10.0
    port: int = 0  # 0: a free port per target
    env: dict[str, str] = field(default_factory=dict)
    setup: str = ""  # run once per checkout before its first start: "pip install -e .", "npm ci", ...
    setup_timeout: float = 600.0
    # Live targets (perfgate starts nothing): each side's URL, and a path answering its version.
    baseline_url: str = ""
    candidate_url: str = ""
    version_path: str = ""  # "" (none): the labels come from --baseline-label/--candidate-label or the URL

    @property
    def live(self) -> bool:
        return bool(self.baseline_url or self.candidate_url)


@dataclass(frozen=True)
class LiveConfig:
    """Safety limits of a run against live targets ([live]); the first three are required there."""

    rate: float | None = None  # requests/s per side, a token bucket in the load process
    max_requests: int | None = None  # requests per side over the whole run
    max_duration: float | None = None  # seconds of the whole run
    abort_error_rate: float = 0.1  # a side's error rate past this (after ABORT_MIN_REQUESTS) stops the run at once
    allow_writes: bool = False  # run scenarios not marked read_only against live targets


#: [live] keys a run against live targets cannot do without.
LIVE_REQUIRED = ("rate", "max_requests", "max_duration")


@dataclass(frozen=True)
class ScenarioConfig:
    name: str
    locustfile: str = "loadtests/im.py"
    user_classes: tuple[str, ...] = ("ChatUser",)
    users: int = 12  # per side: with the IM scenario, ~1,000 sends and ~200 logins per 10 s round
    spawn_rate: float = 12.0
    warmup: float = 2.0
    duration: float = 10.0
    workers: int = 0  # 0: Locust in-process; N: master plus N workers
    command: str = ""  # overrides [target] command for this scenario
    database: str = ""  # "mariadb": a real primary and replica per side, per round
    faults: tuple[dict[str, Any], ...] = ()  # validated by perfgate.faults at plan time
    chaos: tuple[dict[str, Any], ...] = ()
    monkey: dict[str, Any] = field(default_factory=dict)  # the seeded slowness monkey
    storm: dict[str, Any] = field(default_factory=dict)  # logins, clients, at, timeout
    tags: tuple[str, ...] = ()  # Locust task tags to run (empty: every task)
    exclude_tags: tuple[str, ...] = ()  # Locust task tags to leave out
    # a LoadTestShape class of the locustfile drives the users per side (True: its only one, if any; false: none)
    shape: str | bool = True
    credentials: str = ""  # a CSV or TOML file of test accounts, one per virtual user (perfgate.credentials)
    # named groups of redundant dependency processes: NAME -> {members = [command, ..], ready_path, ready_timeout}
    groups: dict[str, Any] = field(default_factory=dict)
    read_only: bool = False  # sends nothing that changes state: the only kind run against live targets by default


@dataclass(frozen=True)
class RoundsConfig:
    design: Design = Design.DUET
    count: int = 6  # planned pairs of rounds
    max: int = 10  # budget, confirmation pairs included (looks at 6, 8 and 10 pairs)
    seed: int | None = None
    # perfgate.machine.PLACEMENTS. "shared" lowered the per-pair noise on recorded A/A gates of the
    # IM service (send p50 7.4-10.7% -> 4.6-7.5%, CPU per request 1.1-1.8% -> 0.8-1.0%; BENCHMARKS.md)
    placement: str = "shared"


@dataclass(frozen=True)
class JudgeConfig:
    margin: float = 0.05
    margins: dict[str, float] = field(default_factory=dict)  # "p99" or "login.p95" -> margin
    confidence: float = 0.95
    # Not throughput by default: under closed-loop load with random tasks, one name's request
    # count per round is Poisson (about 9% noise at 120 requests) and mirrors its latency anyway.
    metrics: tuple[str, ...] = ("p50", "p95", "p99", "error_rate", "cpu_per_request")
    inconclusive: str = "warn"
    min_count: int = 20  # requests per round below which a name is not judged
    limits: dict[str, float] = field(default_factory=dict)  # "login.p95" -> 250000.0 (µs), "error_rate" -> 0.01

    def margin_for(self, name: str, metric: str) -> float:
        """``margins["name.metric"]``, else ``margins["metric"]``, else the metric's own default
        (:data:`METRIC_MARGINS`), else ``margin``."""
        return self.margins.get(f"{name}.{metric}", self.margins.get(metric, METRIC_MARGINS.get(metric, self.margin)))


@dataclass(frozen=True)
class Config:
    path: Path  # the file it came from
    root: Path  # directory that relative paths are resolved against
    target: TargetConfig = field(default_factory=TargetConfig)
    scenarios: tuple[ScenarioConfig, ...] = (ScenarioConfig(name="chat"),)
    rounds: RoundsConfig = field(default_factory=RoundsConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    store: str = ".perfgate"
    report_dir: str = "reports"

    def scenario(self, name: str) -> ScenarioConfig:
        for scenario in self.scenarios:
            if scenario.name == name:
                return scenario
        raise ConfigError(f"{self.path}: no scenario named {name!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"], data["root"] = str(self.path), str(self.root)
        return data

    def resolve(self, name: str) -> Path:
        """A path of the config (a locustfile, a credentials file): absolute, or under ``root``."""
        path = Path(name)
        return path if path.is_absolute() else self.root / path

    def measurement_hash(self) -> str:
        """Hash of what shapes a measurement; stored baselines are reused only on a match.

        Only values that differ from the defaults are hashed, so adding a new
        key (with a default) to perfgate does not orphan every stored baseline.
        What runs the load is hashed too: the content of each scenario's
        locustfile, and the perfgate and Locust versions.
        """
        data = {
            "target": _changed(self.target, TargetConfig()),
            "scenarios": [_changed(s, ScenarioConfig(name=s.name)) | {"name": s.name} for s in self.scenarios],
            "load": self._load_inputs(),
        }
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def _load_inputs(self) -> dict[str, Any]:
        from perfgate.machine import versions

        files = {}
        for scenario in self.scenarios:
            path = self.resolve(scenario.locustfile)
            try:
                files[scenario.locustfile] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                files[scenario.locustfile] = "unreadable"
        found = versions()
        return {"locustfiles": files, "perfgate": found["perfgate"], "locust": found["locust"]}


def _changed(value: Any, default: Any) -> dict[str, Any]:
    ours, theirs = asdict(value), asdict(default)
    return {k: v for k, v in ours.items() if v != theirs.get(k)}


def split_metric_spec(spec: str) -> tuple[str | None, str] | None:
    """``"p95"`` → (None, "p95"); ``"login.p99.9"`` → ("login", "p99.9"); None if no metric ends it.

    The metric is matched as a whole suffix (longest first), so metrics with a dot work.
    """
    if not isinstance(spec, str):
        return None
    for metric in sorted(METRICS, key=len, reverse=True):
        if spec == metric:
            return None, metric
        if spec.endswith("." + metric) and len(spec) > len(metric) + 1:
            return spec[: -len(metric) - 1], metric
    return None
