"""The one cluster interface, its settings, and the tags every provisioned resource carries.

A backend provisions the hosts a distributed gate runs on: target host(s), a
Locust master and N Locust workers. :class:`perfgate.cluster.ec2.Ec2Cluster`
does it on EC2 (or moto); :class:`perfgate.cluster.local.LocalCluster` on this
machine. Every resource is tagged *on creation* with the run id, an expiry
time and an owner, so ``gc`` can always find what a crashed run left behind.
"""

from __future__ import annotations

import abc
import getpass
import secrets
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from perfgate.errors import ConfigError

TAG_RUN = "perfgate:run-id"
TAG_EXPIRES = "perfgate:expires"  # ISO 8601 UTC, "2026-01-01T00:00:00Z": compares as text
TAG_OWNER = "perfgate:owner"
TAG_ROLE = "perfgate:role"
ROLES = ("target", "master", "worker")
INFRA_FILE = "perfgate-infra.toml"
#: Target ports rotate over this span, round by round: a port closed one round ago may still
#: have connections in TIME_WAIT, and the target's free-port check would refuse it.
PORT_SPAN = 20


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_cluster_run_id() -> str:
    return f"pg-{utcnow():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class InfraSettings:
    """``perfgate-infra.toml`` (all keys optional); CLI flags override it."""

    region: str = "us-east-1"
    bucket: str = "perfgate-runs"
    prefix: str = "perfgate"  # S3 key prefix: {prefix}/runs/{run_id}/...
    owner: str = ""  # default: user@host
    ami: str = ""  # default: the latest Amazon Linux 2023 from SSM
    subnet: str = ""  # default: the default VPC's default subnet
    instance_profile: str = ""  # the nodes' IAM role (S3 access to the run prefix), see infra/README.md
    target_type: str = "c7i.large"
    master_type: str = "c7i.large"
    worker_type: str = "c7i.large"
    targets: int = 1
    workers: int = 2
    master_port: int = 5557
    target_port: int = 8080  # targets use ports target_port .. target_port + PORT_SPAN - 1
    egress_cidr: str = "0.0.0.0/0"  # HTTPS egress for S3 and PyPI; narrow it with VPC endpoints
    max_instances: int = 20
    max_hourly_usd: float = 5.0
    max_duration_min: float = 90.0
    prices: dict[str, float] = field(default_factory=dict)  # $/hour overrides of the built-in table

    @property
    def owner_tag(self) -> str:
        return self.owner or f"{getpass.getuser()}@{socket.gethostname()}"

    def counts(self) -> dict[str, int]:
        return {"target": self.targets, "master": 1, "worker": self.workers}

    def instance_type(self, role: str) -> str:
        return {"target": self.target_type, "master": self.master_type, "worker": self.worker_type}[role]


def load_settings(path: Path | None, overrides: dict[str, Any] | None = None) -> InfraSettings:
    """Read ``perfgate-infra.toml`` (if given and present) and apply ``overrides`` (None values skipped)."""
    raw: dict[str, Any] = {}
    if path is not None and path.is_file():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name: f for f in fields(InfraSettings)}
    settings = InfraSettings()
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{path or 'infra settings'}: {key}: unknown key (known: {', '.join(sorted(known))})")
        default = getattr(settings, key)
        if (
            isinstance(default, bool)
            or not isinstance(value, type(default))
            and not (isinstance(default, float) and isinstance(value, int))
        ):
            raise ConfigError(f"{path or 'infra settings'}: {key}: must be {type(default).__name__}, not {value!r}")
        settings = replace(settings, **{key: value})
    for key in ("targets", "workers", "max_instances"):
        if getattr(settings, key) < 1:
            raise ConfigError(f"{path or 'infra settings'}: {key}: must be at least 1")
    if settings.targets > 2:
        raise ConfigError(f"{path or 'infra settings'}: targets: at most 2 target hosts (one per side)")
    return settings


@dataclass(frozen=True)
class PlanRow:
    role: str
    instance_type: str
    count: int
    vcpus: int
    usd_per_hour: float  # for all `count` instances


@dataclass(frozen=True)
class ClusterPlan:
    run_id: str
    rows: tuple[PlanRow, ...]
    usd_per_hour: float
    est_minutes: float
    usd_per_run: float
    limits: dict[str, str]  # what is capped or checked, and how it stands
    notes: tuple[str, ...] = ()

    @property
    def instances(self) -> int:
        return sum(r.count for r in self.rows)


@dataclass(frozen=True)
class Node:
    instance_id: str
    role: str
    index: int  # within its role
    address: str = ""
    state: str = ""


@dataclass(frozen=True)
class ClusterHandle:
    """What ``up`` made: enough to run rounds and to tear it all down."""

    run_id: str
    bucket: str
    run_prefix: str  # "{prefix}/runs/{run_id}"
    expires: str
    nodes: tuple[Node, ...] = ()
    security_groups: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunStatus:
    run_id: str
    owner: str
    expires: str
    instances: dict[str, int]  # state -> count
    security_groups: int
    objects: int
    ready_nodes: int = 0


@dataclass(frozen=True)
class Reaped:
    instances: int = 0
    security_groups: int = 0
    objects: int = 0

    def __add__(self, other: Reaped) -> Reaped:
        return Reaped(
            self.instances + other.instances, self.security_groups + other.security_groups, self.objects + other.objects
        )


#: ``on_step(name)`` is called after each provisioning step (tests pause or fail there).
StepHook = Callable[[str], None]


class Cluster(abc.ABC):
    """Provision, inspect and reap the hosts of one distributed gate."""

    name: str = ""

    @abc.abstractmethod
    def plan(self, settings: InfraSettings, rounds_minutes: float, run_id: str = "") -> ClusterPlan:
        """What ``up`` would launch, what it costs, and which limits apply; launches nothing."""

    @abc.abstractmethod
    def up(
        self,
        settings: InfraSettings,
        bundle: dict[str, Path],
        *,
        run_id: str = "",
        minutes: float | None = None,
        on_step: StepHook | None = None,
    ) -> ClusterHandle:
        """Upload ``bundle`` (name -> file), then launch the nodes; all resources tagged on creation."""

    @abc.abstractmethod
    def status(self) -> list[RunStatus]:
        """Every perfgate run this backend can see."""

    @abc.abstractmethod
    def down(self, run_id: str) -> Reaped:
        """Tear down everything of one run; idempotent."""

    @abc.abstractmethod
    def gc(self, now: datetime | None = None) -> Reaped:
        """Reap every perfgate resource whose expiry has passed (at ``now``)."""


def expiry(minutes: float) -> str:
    return iso(utcnow() + timedelta(minutes=minutes))
