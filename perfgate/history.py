"""Per-commit history from the store: pooled comparisons, per-commit series, change points.

Everything here reads stored rounds only. A stored round counts for a commit
when its key matches: the commit, the scenario, the config's measurement hash
and the machine fingerprint (results from another machine or another load
profile are never mixed in). Rounds of a dirty working tree never count for
the commit it was based on.

* :meth:`Measurements.pooled_verdict` re-judges every stored baseline/candidate
  pair of one comparison (same two commits, same key, same design), pooled
  across the runs that measured it. Hooks, bisect and backfill use it to reuse
  earlier measurements instead of measuring again.
* :func:`build_history` gives one series per scenario x request name x metric:
  per commit, its round-level values, a centre and a confidence band, and the
  change points found by kernel change-point detection over the round-level
  values in commit order (:func:`perfgate.judge.change_points`), snapped to commit
  boundaries so that each names the commit where a level shift began.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import git
import numpy as np
import pandas as pd
from scipy.special import stdtrit

from perfgate import gitops
from perfgate.config import Config, JudgeConfig
from perfgate.errors import RevisionError, StoreError
from perfgate.judge import change_points, judge, resource_metrics, round_metrics
from perfgate.judge.changepoint import PENALTY
from perfgate.machine import fingerprint
from perfgate.model import Revision, RoundMetrics, RoundRecord, Side, State, Verdict
from perfgate.store import open_store

if TYPE_CHECKING:
    from perfgate.gate import GateOptions, Progress

#: Pair and round ids of the k-th pooled run are offset by k * _OFFSET, so they never collide.
_OFFSET = 100_000
#: Fewer round-level values than this in a series: no change-point search.
MIN_CHANGE_POINT_VALUES = 6


class ResultStore(Protocol):
    """What history needs from a store (LocalStore and S3Store both provide it)."""

    def list_runs(self) -> list[dict[str, Any]]: ...
    def manifest(self, run_id: str) -> dict[str, Any]: ...
    def verdict(self, run_id: str) -> dict[str, Any] | None: ...
    def rounds(self, run_id: str) -> list[RoundRecord]: ...
    def samples(self, run_id: str, index: int) -> pd.DataFrame: ...
    def find_rounds(self, sha: str, scenario: str, config_hash: str,
                    fingerprint: str) -> list[tuple[str, int, str]]: ...


@dataclass(frozen=True)
class Key:
    """What must match for stored rounds to be reused: measurement config and machine."""

    config_hash: str
    fingerprint: str

    @classmethod
    def of(cls, config: Config, machine: str | None = None) -> Key:
        return cls(config.measurement_hash(), machine or fingerprint())


@dataclass(frozen=True)
class Pooled:
    """A comparison re-judged over every stored pair; ``verdict`` is None without pairs."""

    verdict: Verdict | None
    pairs: int  # the fewest complete pairs over the config's scenarios
    run_ids: tuple[str, ...]

    @property
    def decisive(self) -> bool:
        return self.verdict is not None and self.verdict.state in (State.PASS, State.REGRESSION)


class Measurements:
    """Cached reads of one store: manifests, round records and round-level metrics."""

    def __init__(self, store: ResultStore):
        self.store = store
        self._runs: list[dict[str, Any]] | None = None
        self._manifests: dict[str, dict[str, Any]] = {}
        self._records: dict[str, dict[int, RoundRecord]] = {}
        self._metrics: dict[tuple[str, int], list[RoundMetrics]] = {}

    def refresh(self) -> None:
        """Forget the run list (after new runs were stored); round data never changes."""
        self._runs = None

    def runs(self) -> list[dict[str, Any]]:
        if self._runs is None:
            self._runs = self.store.list_runs()
        return self._runs

    def manifest(self, run_id: str) -> dict[str, Any]:
        if run_id not in self._manifests:
            self._manifests[run_id] = self.store.manifest(run_id)
        return self._manifests[run_id]

    def record(self, run_id: str, index: int) -> RoundRecord | None:
        if run_id not in self._records:
            self._records[run_id] = {r.index: r for r in self.store.rounds(run_id)}
        return self._records[run_id].get(index)

    def round_metrics(self, run_id: str, index: int) -> list[RoundMetrics]:
        """Round-level metrics of both sides of a stored round ([] for an invalid or missing one)."""
        if (run_id, index) not in self._metrics:
            record = self.record(run_id, index)
            metrics: list[RoundMetrics] = []
            if record is not None and record.valid:
                samples = self.store.samples(run_id, index)
                metrics = [*round_metrics(samples, record),
                           *resource_metrics(self.store.resources(run_id, index), record, samples)]
            self._metrics[(run_id, index)] = metrics
        return self._metrics[(run_id, index)]

    # --- comparisons -----------------------------------------------------------------

    def comparison_runs(self, baseline_sha: str, candidate_sha: str, key: Key, design: str) -> list[str]:
        """Stored runs that measured exactly this comparison under ``key`` and ``design``."""
        found = []
        for row in self.runs():
            if (row["baseline"], row["candidate"], row["config_hash"], row["fingerprint"]) != (
                    baseline_sha, candidate_sha, key.config_hash, key.fingerprint):
                continue
            try:
                manifest = self.manifest(row["run_id"])
            except StoreError:
                continue
            if manifest.get("design") != design or _dirty(manifest, Side.BASELINE) or \
                    _dirty(manifest, Side.CANDIDATE):
                continue
            found.append(row["run_id"])
        return found

    def pooled_metrics(self, run_ids: Sequence[str], scenarios: Iterable[str], *, start: int = 0
                       ) -> list[RoundMetrics]:
        """Round metrics of ``run_ids`` with pair and round ids made unique across runs: the k-th
        run's ids are offset by ``(start + k) * 100000`` (``start=1`` keeps ids 0..99999 free for
        a gate that tops the pool up)."""
        wanted = set(scenarios)
        pooled = []
        for k, run_id in enumerate(run_ids, start=start):
            for record in sorted(self.store.rounds(run_id), key=lambda r: r.index):
                if record.scenario not in wanted:
                    continue
                for m in self.round_metrics(run_id, record.index):
                    pooled.append(replace(m, pair=k * _OFFSET + m.pair, round_index=k * _OFFSET + m.round_index))
        return pooled

    def pooled_verdict(self, config: Config, baseline: Revision, candidate: Revision, *, key: Key | None = None,
                       judge_config: JudgeConfig | None = None, budget_pairs: int | None = None) -> Pooled:
        """Re-judge every stored pair of ``baseline`` → ``candidate`` with the current judge config.

        The pooled pairs are judged as later looks of the sequential design that
        starts at ``rounds.count`` pairs and ends at ``budget_pairs`` (default
        ``rounds.max``), so reusing and topping up does not inflate the error rates.
        """
        if baseline.dirty or candidate.dirty:
            return Pooled(None, 0, ())
        key = key or Key.of(config)
        run_ids = self.comparison_runs(baseline.sha, candidate.sha, key, config.rounds.design.value)
        scenarios = [s.name for s in config.scenarios]
        metrics = self.pooled_metrics(run_ids, scenarios)
        pairs = count_pairs(metrics, scenarios)
        if not metrics or pairs == 0:
            return Pooled(None, 0, tuple(run_ids))
        planned = config.rounds.count
        budget = max(budget_pairs or config.rounds.max, planned, pairs)
        verdict = judge(metrics, judge_config or config.judge, baseline, candidate,
                        run_id=run_ids[-1], planned_pairs=planned, budget_pairs=budget)
        if len(run_ids) > 1:
            verdict = replace(verdict, notes=(*verdict.notes, f"pooled {pairs} pairs from {len(run_ids)} stored runs: "
                                                              + ", ".join(run_ids)))
        return Pooled(verdict, pairs, tuple(run_ids))

    # --- per commit ------------------------------------------------------------------

    def commit_values(self, sha: str, scenario: str, key: Key) -> list[tuple[str, int, RoundMetrics]]:
        """(run_id, round index, metrics) of every valid stored round side that measured ``sha``."""
        out: list[tuple[str, int, RoundMetrics]] = []
        for run_id, index, side in self.store.find_rounds(sha, scenario, key.config_hash, key.fingerprint):
            try:
                if _dirty(self.manifest(run_id), Side(side)):
                    continue
                metrics = self.round_metrics(run_id, int(index))
            except StoreError:
                continue  # a round the index knows of but whose files are gone: skip it
            out.extend((run_id, int(index), m) for m in metrics if m.side.value == side)
        return out

    def candidate_run(self, sha: str, key: Key, previous: str | None = None) -> tuple[str, str, str] | None:
        """(run_id, state, baseline sha) of the latest judged run with ``sha`` as its clean candidate,
        preferring a run whose baseline is ``previous`` (the step from the previous commit)."""
        found: list[tuple[str, str, str]] = []
        for row in reversed(self.runs()):
            if row["candidate"] == sha and row["config_hash"] == key.config_hash and \
                    row["fingerprint"] == key.fingerprint and row["state"] in {s.value for s in State}:
                try:
                    if not _dirty(self.manifest(row["run_id"]), Side.CANDIDATE):
                        found.append((row["run_id"], row["state"], row["baseline"]))
                except StoreError:
                    continue
        preferred = [f for f in found if f[2] == previous]
        return (preferred or found)[0] if found else None


def _dirty(manifest: dict[str, Any], side: Side) -> bool:
    return bool(manifest.get(side.value, {}).get("dirty", False))


def count_pairs(metrics: Sequence[RoundMetrics], scenarios: Iterable[str]) -> int:
    """The fewest complete (both sides) pairs over ``scenarios``."""
    sides: dict[tuple[str, int], set[Side]] = defaultdict(set)
    for m in metrics:
        sides[(m.scenario, m.pair)].add(m.side)
    complete: dict[str, int] = defaultdict(int)
    for (scenario, _), present in sides.items():
        complete[scenario] += int(len(present) == 2)
    return min((complete.get(s, 0) for s in scenarios), default=0)


# --- series and change points ---------------------------------------------------------


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


def centre_and_band(values: Sequence[float], metric: str, confidence: float) -> tuple[float, float, float]:
    """Centre and two-sided confidence band over rounds: geometric for positive metrics
    (latency, throughput), arithmetic for the error rate (which can be zero)."""
    x = np.asarray(values, dtype=float)
    log = metric != "error_rate" and bool((x > 0).all())
    y = np.log(x) if log else x
    mean = float(y.mean())
    if y.size < 2:
        low = high = mean
    else:
        half = float(stdtrit(y.size - 1, 0.5 + confidence / 2)) * float(y.std(ddof=1)) / math.sqrt(y.size)
        low, high = mean - half, mean + half
    if log:
        return math.exp(mean), math.exp(low), math.exp(high)
    return mean, low, high


def snap_to_commits(index: int, owners: Sequence[int]) -> int:
    """Move a change point at value ``index`` to the nearest boundary between commits."""
    if index <= 0 or index >= len(owners) or owners[index - 1] != owners[index]:
        return index
    owner = owners[index]
    start = owners.index(owner)
    end = len(owners) - owners[::-1].index(owner)
    return start if index - start <= end - index else end


def find_changes(points: Sequence[Point], metric: str, *, penalty: float = PENALTY) -> list[ChangePoint]:
    """Change points over the round-level values in commit order, snapped to commits."""
    values: list[float] = []
    owners: list[int] = []
    for k, point in enumerate(points):
        values.extend(point.values)
        owners.extend([k] * len(point.values))
    x = np.asarray(values, dtype=float)
    if x.size < MIN_CHANGE_POINT_VALUES or len(points) < 2 or not np.isfinite(x).all():
        return []
    transformed = np.log(x) if metric != "error_rate" and (x > 0).all() else x
    cuts = sorted({snap_to_commits(i, owners) for i in change_points(transformed, penalty=penalty)})
    cuts = [c for c in cuts if 0 < c < x.size]
    bounds = [0, *cuts, x.size]
    changes = []
    for j, cut in enumerate(cuts):
        before, after = x[bounds[j]:cut], x[cut:bounds[j + 2]]
        point = points[owners[cut]]
        changes.append(ChangePoint(point.revision, point.position, float(np.median(before)),
                                   float(np.median(after))))
    return changes


def build_history(measurements: Measurements, commits: Sequence[Revision], config: Config, *, key: Key | None = None,
                  metrics: Sequence[str] | None = None, names: Sequence[str] = (),
                  penalty: float = PENALTY) -> list[Series]:
    """One series per scenario x request name x metric over ``commits`` (oldest first)."""
    key = key or Key.of(config)
    metrics = tuple(metrics or config.judge.metrics)
    per_key: dict[tuple[str, str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for position, commit in enumerate(commits):
        for scenario_config in config.scenarios:
            for _, _, m in measurements.commit_values(commit.sha, scenario_config.name, key):
                if names and m.name not in names:
                    continue
                if m.count < config.judge.min_count:
                    continue
                for metric in metrics:
                    value = m.values.get(metric, math.nan)
                    if math.isfinite(value):
                        per_key[(m.scenario, m.name, metric)][position].append(value)
    series = []
    for (scenario, name, metric), by_position in sorted(per_key.items()):
        points = []
        for position in sorted(by_position):
            commit = commits[position]
            values = tuple(by_position[position])
            centre, low, high = centre_and_band(values, metric, config.judge.confidence)
            previous = commits[position - 1].sha if position else None
            run_id, step, step_baseline = measurements.candidate_run(commit.sha, key, previous) or (None, "", "")
            points.append(Point(commit, position, values, centre, low, high, run_id, step, step_baseline))
        series.append(Series(scenario, name, metric, tuple(points),
                             tuple(find_changes(points, metric, penalty=penalty))))
    return series


# --- commits and backfill -------------------------------------------------------------


def repo_root(repo: git.Repo) -> Path:
    """The working tree of ``repo``; perfgate needs one (a bare repository has none)."""
    if repo.working_tree_dir is None:
        raise RevisionError(f"{repo.git_dir}: a bare repository has no working tree to measure")
    return Path(repo.working_tree_dir)


def list_commits(repo_dir: Path, rev_range: str, limit: int | None = None) -> list[Revision]:
    """First-parent commits of ``rev_range`` (``A..B`` or a single revision), oldest first."""
    repo = gitops.open_repo(repo_dir)
    args = ["--first-parent"] + ([f"--max-count={limit}"] if limit else []) + [rev_range, "--"]
    try:
        shas = repo.git.rev_list(*args).split()
    except git.GitCommandError as exc:
        raise RevisionError(f"bad revision range {rev_range!r} in {repo.working_tree_dir}: "
                            f"{exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else exc}") from exc
    if not shas:
        raise RevisionError(f"revision range {rev_range!r} has no commits")
    return [gitops.resolve(repo, sha) for sha in reversed(shas)]


@dataclass(frozen=True)
class BackfillStep:
    revision: Revision
    baseline: Revision
    status: str  # "stored" (skipped), "measured"
    run_id: str = ""
    state: str = ""


def stored_rounds(measurements: Measurements, sha: str, config: Config, key: Key) -> int:
    """The fewest valid stored round sides of ``sha`` over the config's scenarios."""
    counts = []
    for scenario in config.scenarios:
        rows = measurements.store.find_rounds(sha, scenario.name, key.config_hash, key.fingerprint)
        counts.append(len({(run_id, index) for run_id, index, _ in rows}))
    return min(counts, default=0)


def backfill(config: Config, repo_dir: Path, rev_range: str, options: GateOptions, *,
             progress: Progress | None = None, on_step: Callable[[BackfillStep], None] | None = None,
             limit: int | None = None) -> list[BackfillStep]:
    """Measure each commit of ``rev_range`` against its first parent (a root commit against
    itself, which doubles as A/A data). A commit that already has ``rounds.count`` valid
    stored rounds under this config and machine is skipped, so an interrupted backfill
    resumes where it stopped and a second one measures nothing."""
    from perfgate.gate import apply_options, run_gate

    effective = apply_options(config, options)
    key = Key.of(effective)
    measurements = Measurements(open_store(effective.store, effective.root))
    repo = gitops.open_repo(repo_dir)
    steps = []
    for revision in list_commits(repo_dir, rev_range, limit):
        parents = repo.commit(revision.sha).parents
        baseline = gitops.resolve(repo, parents[0].hexsha) if parents else revision
        if stored_rounds(measurements, revision.sha, effective, key) >= effective.rounds.count:
            step = BackfillStep(revision, baseline, "stored")
        else:
            result = run_gate(config, repo_dir, replace(options, baseline=baseline.sha, candidate=revision.sha),
                              progress)
            step = BackfillStep(revision, baseline, "measured", result.run_id, result.verdict.state.value)
        steps.append(step)
        if on_step is not None:
            on_step(step)
    return steps
