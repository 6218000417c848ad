"""The small, typed, immutable data model shared by every stage.

Tables of samples travel as pyarrow tables or pandas frames whose columns are
fixed here (``SAMPLE_COLUMNS``, ``RESOURCE_COLUMNS``); everything else is a
frozen dataclass. The figures a round's windows carry live in :mod:`perfgate.figures` and
are named here too.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa

from perfgate.figures import (
    ChaosFigures,
    FailoverFigures,
    FaultFigures,
    RedundancyFigures,
    StormFigures,
    WindowFigures,
)

#: Version of the stored run format and of the ``--json`` verdict schema.
#: History: 1 = first release (runs, rounds, samples, resources, verdict);
#: 2 = resources carry the process tree's cumulative CPU time (``cpu_time_s``); manifests carry
#: the version too. Version 1 runs read as before, without the CPU-cost metric; a record of a
#: newer version is refused on read (:func:`perfgate.codec.check_schema`).
#: 3 = windows carry ``side`` and typed figures per kind; a round's ``health`` replaces its
#: free-form ``extra`` (versions 1 and 2 are migrated on read).
#: 4 = a verdict's metrics carry their reason as data (``why``); a stored sentence of an older
#: verdict is kept as it was (``Basis.STORED``).
#: 5 = a verdict's notes are data too (``notes_data``, beside their words in ``notes``); an older
#: verdict's notes are kept as their sentences (``NoteKind.STORED``).
#: 6 = round records may hold ``redundancy`` windows (a group of redundant dependencies,
#: per phase); older records have none, so nothing is migrated.
SCHEMA_VERSION = 6


_Figures = TypeVar("_Figures", FaultFigures, StormFigures, ChaosFigures, FailoverFigures, RedundancyFigures)


class Side(enum.StrEnum):
    BASELINE = "baseline"
    CANDIDATE = "candidate"


class Design(enum.StrEnum):
    """How rounds cancel the machine's noise (see docs/architecture.md, Statistics)."""

    DUET = "duet"  # both sides up at once, one generator splits its users
    INTERLEAVED = "interleaved"  # one side per round, A B B A ...


class State(enum.StrEnum):
    """A verdict state. ``IMPROVEMENT`` only appears per metric; it counts as a pass."""

    PASS = "pass"
    IMPROVEMENT = "improvement"
    REGRESSION = "regression"
    INCONCLUSIVE = "inconclusive"


#: One row per request, as recorded from Locust's ``request`` event.
_SAMPLE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("t_ns", pa.int64()),  # send time, ns since the epoch (intended time in open-loop scenarios)
    ("latency_us", pa.float64()),
    ("name", pa.string()),
    ("type", pa.string()),
    ("ok", pa.bool_()),
    ("bytes", pa.int64()),
    ("error", pa.string()),  # null when ok
    ("side", pa.string()),  # Side value
    ("warmup", pa.bool_()),  # kept and flagged, never silently dropped
]
SAMPLE_SCHEMA = pa.schema(_SAMPLE_FIELDS)
SAMPLE_COLUMNS = tuple(SAMPLE_SCHEMA.names)

#: One row per resource sample of a target (or a dependency) process.
_RESOURCE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("t_ns", pa.int64()),
    ("side", pa.string()),
    ("process", pa.string()),  # "target" or a dependency's name
    ("cpu_percent", pa.float64()),
    ("rss_bytes", pa.int64()),
    ("connections", pa.float64()),  # from /metrics where the target reports it
    ("queue_depth", pa.float64()),
    ("mode", pa.string()),  # e.g. "read-write" / "read-only", from /metrics where reported
    ("cpu_time_s", pa.float64()),  # CPU seconds (user + system) the process tree has used so far
]
RESOURCE_SCHEMA = pa.schema(_RESOURCE_FIELDS)
RESOURCE_COLUMNS = tuple(RESOURCE_SCHEMA.names)


@dataclass(frozen=True)
class Revision:
    """A resolved git revision. ``dirty`` means the uncommitted working tree."""

    label: str  # what the user asked for: "HEAD~1", "main", "WORKTREE"
    sha: str
    subject: str = ""
    author: str = ""
    date: str = ""  # ISO 8601
    dirty: bool = False
    url: str = ""  # a live deployment's URL: no sha, the label is its version (or the one given)

    @property
    def short(self) -> str:
        if not self.sha:
            return self.label  # a live deployment
        return self.sha[:10] + ("+dirty" if self.dirty else "")


@dataclass(frozen=True)
class Manifest:
    """What a run measures, and where: written when the run starts (``manifest.json``).
    ``config`` is the redacted configuration, as it was; ``owner`` the gate process."""

    run_id: str
    baseline: Revision
    candidate: Revision
    kind: str = "run"
    created: str = ""  # ISO 8601
    config: dict[str, Any] = field(default_factory=dict)
    config_hash: str = ""
    fingerprint: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    command: str = ""
    design: str = ""
    scenarios: tuple[str, ...] = ()
    owner: dict[str, Any] | None = None
    repository_url: str = ""  # the repository's web page (GitHub), for links to its commits

    def revision(self, side: Side) -> Revision:
        return self.baseline if side is Side.BASELINE else self.candidate


@dataclass(frozen=True)
class RunRow:
    """A run as the store's index lists it: what it compared, under which config, and how it ended."""

    run_id: str
    created: float  # seconds since the epoch
    baseline: str  # sha
    candidate: str  # sha
    config_hash: str = ""
    fingerprint: str = ""
    kind: str = "run"
    state: str = "running"  # "running", a verdict's state ("pass", ...), "error" or "interrupted"


@dataclass(frozen=True)
class Window:
    """A timed event in a round: a fault, a storm, a chaos action, a failover."""

    kind: str  # "fault", "storm", "chaos", "failover", "warmup"
    label: str
    start_ns: int
    end_ns: int
    detail: WindowFigures | None = field(default=None, compare=False, hash=False)
    side: str = ""  # the side it hit ("" for both or none)


@dataclass(frozen=True)
class ClusterRound:
    """Where a round ran on a cluster."""

    run_id: str = ""
    round: str = ""  # the round's folder in the cluster's bucket, e.g. "0007"
    workers: int = 0
    clock_offsets_ns: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RoundHealth:
    """How a round went, besides its samples: the generator's loop lag, users' own errors,
    the targets' ports, and where it ran on a cluster."""

    loop_lag_ms_p50: float | None = None
    loop_lag_ms_p99: float | None = None
    user_errors: int = 0
    first_user_error: str | None = None
    ports: dict[str, int] = field(default_factory=dict)  # side -> target port
    cluster: ClusterRound | None = None


@dataclass(frozen=True)
class LoadStatus:
    """What a load process reports when it ends (its ``status.json``): how the round's load
    went, or, with ``ok`` false, why it failed (``kind``: "locustfile", "workers" or "crash")."""

    ok: bool
    kind: str = ""
    error: str = ""
    traceback: str = ""
    classes: tuple[str, ...] = ()  # a locustfile check: the user classes it resolved
    shape: str = ""  # the LoadTestShape that drove the users ("" for none)
    started_ns: int = 0
    measure_start_ns: int = 0  # end of warm-up
    ended_ns: int = 0
    requests: int = 0
    generator_cpu: float = 0.0  # mean CPU % over the measured window
    generator_cpu_max: float = 0.0
    loop_lag_ms_p50: float | None = None  # None where not measured (distributed load)
    loop_lag_ms_p99: float | None = None
    user_errors: int = 0
    first_user_error: str = ""
    workers: int = 0  # distributed load: Locust workers, their clock offsets and rows
    clock_offsets_ns: dict[str, int] = field(default_factory=dict)
    rows_per_worker: dict[str, int] = field(default_factory=dict)
    aborted: str = ""  # why a safety limit of a live run stopped the load early ("" when none did)


@dataclass(frozen=True)
class RoundSpec:
    """One planned round: which sides run, and in which positions."""

    index: int
    scenario: str
    sides: tuple[Side, ...]  # one side (interleaved) or both (duet), in start order
    pair: int  # see RoundRecord.pair
    confirmation: bool = False


@dataclass(frozen=True)
class RoundRecord:
    """What the store keeps about one measured round (samples live in Parquet)."""

    run_id: str
    index: int
    scenario: str
    design: Design
    sides: tuple[Side, ...]
    pair: int  # rounds sharing a pair id form one baseline/candidate comparison
    started_ns: int
    measure_start_ns: int  # end of warm-up
    ended_ns: int
    valid: bool = True
    invalid_reason: str = ""
    confirmation: bool = False
    generator_cpu: float = 0.0  # mean CPU % of the load generator process
    windows: tuple[Window, ...] = ()
    health: RoundHealth = field(default_factory=RoundHealth, compare=False, hash=False)

    def figures(self, kind: type[_Figures]) -> list[_Figures]:
        """The figures of this round's windows of one kind, e.g. ``figures(FailoverFigures)``."""
        return [w.detail for w in self.windows if isinstance(w.detail, kind)]


@dataclass(frozen=True)
class RoundMetrics:
    """Round-level values of one request name on one side: the unit of evidence."""

    round_index: int
    pair: int
    scenario: str
    side: Side
    name: str
    values: dict[str, float]  # metric -> value, e.g. {"p95": 1234.5, "throughput": 88.0}
    count: int
    errors: int


class Basis(enum.StrEnum):
    """What a metric's state rests on."""

    COMPARISON = "comparison"  # the candidate against the baseline, within a margin
    LIMIT = "limit"  # the candidate alone against an absolute limit (the metric ends in " limit")
    CHECK = "check"  # a hard check, exact: the metric names it (acked_lost, went_down, outage_reads_ok)
    STORED = "stored"  # a verdict stored before reasons were data: its sentence, as it was


@dataclass(frozen=True)
class Reason:
    """Why a metric has its state, as numbers and names; :func:`perfgate.formatting.reason_text`
    says it in words (the judge writes no sentences)."""

    basis: Basis = Basis.COMPARISON
    pairs: int = 0  # pairs (or, for a limit, rounds) judged
    need: int = 0  # > 0: too few of them to decide; this many are needed (never a pass)
    fisher_p: float = math.nan  # an error rate: Fisher's exact test on the pooled counts
    beside: tuple[tuple[str, float], ...] = ()  # a CPU cost: each request's p50 change (µs) in its scenario
    text: str = ""  # Basis.STORED only


@dataclass(frozen=True)
class MetricComparison:
    """One judged metric: the candidate/baseline ratio with its interval."""

    scenario: str
    name: str
    metric: str
    baseline: float
    candidate: float
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    verdict: State
    why: Reason = Reason()
    margin: float = 0.05
    rounds: int = 0
    higher_is_better: bool = False


class NoteKind(enum.StrEnum):
    """What a verdict's note tells."""

    FEW_REQUESTS = "few_requests"  # a request name not judged: a median under `min_count` requests per round
    THIN_TAIL = "thin_tail"  # quantiles of a name not judged: too few requests beyond them
    LOOKS = "looks"  # the sequential design: the looks planned and the ones judged at
    REUSED = "reused"  # pairs reused from earlier runs of this comparison, per scenario
    POOLED = "pooled"  # a re-judged comparison: pairs pooled from these stored runs
    FEW_ROUNDS = "few_rounds"  # perfgate nodes: `pairs` rounds, fewer than the `min_count` an outlier needs
    STOPPED = "stopped"  # a live run bought no more rounds: the [live] limit that stopped it, in `text`
    STORED = "stored"  # a verdict stored before notes were data: its sentence, as it was


@dataclass(frozen=True)
class Note:
    """A fact beside the verdict, as numbers and names; :func:`perfgate.formatting.note_text`
    says it in words."""

    kind: NoteKind
    scenario: str = ""
    name: str = ""
    requests: float = 0.0  # FEW_REQUESTS, THIN_TAIL: the median requests per round
    min_count: int = 0  # FEW_REQUESTS
    needs: tuple[tuple[str, float], ...] = ()  # THIN_TAIL: (metric, requests per round it needs)
    looks: tuple[int, ...] = ()  # LOOKS: the planned looks, in pairs
    judged_at: tuple[int, ...] = ()  # LOOKS: the look (1-based) each scenario was judged at
    pairs: int = 0  # POOLED
    runs: tuple[str, ...] = ()  # POOLED: the stored runs
    reused: tuple[tuple[str, int], ...] = ()  # REUSED: (scenario, pairs reused)
    text: str = ""  # STORED: the sentence; STOPPED: the limit's refusal


@dataclass(frozen=True)
class Verdict:
    """The gate's answer, with every judged metric (those that decide it first; its one-line
    reason is :func:`perfgate.formatting.verdict_text`)."""

    state: State  # PASS, REGRESSION or INCONCLUSIVE
    metrics: tuple[MetricComparison, ...]
    baseline: Revision
    candidate: Revision
    run_id: str = ""
    rounds: int = 0
    invalid_rounds: int = 0
    confirmation_rounds: int = 0
    notes: tuple[Note, ...] = ()


# --- per-commit history (perfgate.history builds them, perfgate.report.trend draws them) ---


@dataclass(frozen=True)
class Point:
    """One commit of one series: its round-level values and their centre and band."""

    revision: Revision
    position: int  # index of the commit in the listed range
    values: tuple[float, ...]
    centre: float
    low: float
    high: float
    run_id: str | None = None  # the run whose report the point links to
    step: str = ""  # that run's verdict (the commit as candidate)
    step_baseline: str = ""  # and its baseline sha


@dataclass(frozen=True)
class ChangePoint:
    """A level shift that begins at ``revision`` (the first commit of the new level)."""

    revision: Revision
    position: int
    before: float
    after: float

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else math.inf


@dataclass(frozen=True)
class Series:
    scenario: str
    name: str
    metric: str
    points: tuple[Point, ...]
    changes: tuple[ChangePoint, ...] = field(default=())
