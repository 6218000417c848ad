"""Stored rounds as evidence: the one place that turns rounds into what the judge weighs.

A round becomes :class:`Evidence` by :func:`round_evidence` alone: its
round-level metrics, its resource metrics (with the CPU cost per request, from
its samples) and its failover figures for the hard checks. The gate uses it on
each round it measures, and every re-judging path uses it on stored rounds:
:func:`stored_evidence` (``perfgate compare``), :class:`Measurements` (gate
reuse, history, hooks, bisect, flaky). :func:`judge_evidence` is the verdict
over evidence: the statistical judge plus the hard checks, so no path can
re-judge as a pass a run that lost acknowledged writes.

Only complete runs count (:data:`FINAL_STATES`): a run that errored, was
interrupted or is still running never lends its rounds to another verdict.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from perfgate.errors import StoreError
from perfgate.figures import FailoverFigures, RedundancyFigures
from perfgate.judge import failover_checks, judge, redundancy_checks, resource_metrics, round_metrics, with_checks
from perfgate.judge.limits import limit_checks
from perfgate.machine import fingerprint
from perfgate.model import Manifest, Note, NoteKind, Revision, RoundMetrics, RoundRecord, RunRow, Side, State, Verdict

if TYPE_CHECKING:
    from perfgate.config import Config, JudgeConfig

#: Pair and round ids of the k-th pooled run are offset by k * OFFSET, so they never collide.
OFFSET = 100_000
#: Run states of complete, judged runs: only their rounds are ever pooled or reused.
FINAL_STATES = frozenset({State.PASS.value, State.REGRESSION.value, State.INCONCLUSIVE.value})


class ResultStore(Protocol):
    """What reading needs from a store (LocalStore and S3Store both provide it)."""

    def list_runs(self) -> list[RunRow]: ...
    def manifest(self, run_id: str) -> Manifest: ...
    def verdict(self, run_id: str) -> dict[str, Any] | None: ...
    def rounds(self, run_id: str) -> list[RoundRecord]: ...
    def samples(self, run_id: str, index: int) -> pd.DataFrame: ...
    def resources(self, run_id: str, index: int) -> pd.DataFrame: ...
    def find_rounds(
        self, sha: str, scenario: str, config_hash: str, fingerprint: str
    ) -> list[tuple[str, int, str]]: ...


@dataclass(frozen=True)
class Key:
    """What must match for stored rounds to be reused: the measurement hash (config, locustfile
    contents, perfgate and Locust versions) and the machine fingerprint."""

    config_hash: str
    fingerprint: str

    @classmethod
    def of(cls, config: Config, machine: str | None = None) -> Key:
        return cls(config.measurement_hash(), machine or fingerprint())


@dataclass
class Evidence:
    """What the judge weighs: round-level metrics, and per round and side the failover figures."""

    metrics: list[RoundMetrics] = field(default_factory=list)
    failover: list[FailoverFigures] = field(default_factory=list)
    redundancy: list[RedundancyFigures] = field(default_factory=list)

    def extend(self, other: Evidence) -> None:
        self.metrics.extend(other.metrics)
        self.failover.extend(other.failover)
        self.redundancy.extend(other.redundancy)


def failover_of(record: RoundRecord) -> list[FailoverFigures]:
    """A round's per-side failover figures, tagged with the scenario, for :func:`failover_checks`."""
    return [replace(figures, scenario=record.scenario) for figures in record.figures(FailoverFigures)]


def redundancy_of(record: RoundRecord) -> list[RedundancyFigures]:
    """A round's per-side redundancy figures, tagged with the scenario, for :func:`redundancy_checks`."""
    return [replace(figures, scenario=record.scenario) for figures in record.figures(RedundancyFigures)]


def round_evidence(record: RoundRecord, samples: pd.DataFrame, resources: pd.DataFrame) -> Evidence:
    """One valid round as evidence ([] for an invalid one)."""
    if not record.valid:
        return Evidence()
    metrics = [*round_metrics(samples, record), *resource_metrics(resources, record, samples)]
    return Evidence(metrics, failover_of(record), redundancy_of(record))


def stored_round_evidence(store: ResultStore, record: RoundRecord) -> Evidence:
    if not record.valid:
        return Evidence()
    return round_evidence(
        record, store.samples(record.run_id, record.index), store.resources(record.run_id, record.index)
    )


def stored_evidence(store: ResultStore, run_id: str) -> Evidence:
    """Every valid stored round of ``run_id`` as evidence."""
    evidence = Evidence()
    for record in store.rounds(run_id):
        evidence.extend(stored_round_evidence(store, record))
    return evidence


def judge_evidence(
    evidence: Evidence, config: JudgeConfig, baseline: Revision, candidate: Revision, **kwargs: Any
) -> Verdict:
    """The verdict over ``evidence``: the judge, then the hard checks (a failed one is a regression)."""
    verdict = judge(evidence.metrics, config, baseline, candidate, **kwargs)
    limits = limit_checks(evidence.metrics, config.limits, config.confidence)
    checks = [*failover_checks(evidence.failover), *redundancy_checks(evidence.redundancy), *limits]
    return with_checks(verdict, checks)


def latest_judged(store: ResultStore) -> str:
    """The latest run that has a verdict (a failed or interrupted run has none)."""
    for row in reversed(store.list_runs()):
        if row.state in FINAL_STATES:
            return row.run_id
    raise StoreError(
        "no run in the store has a verdict yet (every stored run failed, was interrupted or is still running)"
    )


def count_pairs(metrics: Sequence[RoundMetrics], scenarios: Iterable[str]) -> int:
    """The fewest complete (both sides) pairs over ``scenarios``."""
    sides: dict[tuple[str, int], set[Side]] = defaultdict(set)
    for m in metrics:
        sides[(m.scenario, m.pair)].add(m.side)
    complete: dict[str, int] = defaultdict(int)
    for (scenario, _), present in sides.items():
        complete[scenario] += int(len(present) == 2)
    return min((complete.get(s, 0) for s in scenarios), default=0)


def dirty(manifest: Manifest, side: Side) -> bool:
    return manifest.revision(side).dirty


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
    """Cached reads of one store: manifests, round records and their evidence."""

    def __init__(self, store: ResultStore):
        self.store = store
        self._runs: list[RunRow] | None = None
        self._manifests: dict[str, Manifest] = {}
        self._records: dict[str, dict[int, RoundRecord]] = {}
        self._evidence: dict[tuple[str, int], Evidence] = {}

    def refresh(self) -> None:
        """Forget the run list (after new runs were stored); round data never changes."""
        self._runs = None

    def runs(self) -> list[RunRow]:
        if self._runs is None:
            self._runs = self.store.list_runs()
        return self._runs

    def manifest(self, run_id: str) -> Manifest:
        if run_id not in self._manifests:
            self._manifests[run_id] = self.store.manifest(run_id)
        return self._manifests[run_id]

    def record(self, run_id: str, index: int) -> RoundRecord | None:
        if run_id not in self._records:
            self._records[run_id] = {r.index: r for r in self.store.rounds(run_id)}
        return self._records[run_id].get(index)

    def evidence(self, run_id: str, index: int) -> Evidence:
        """The evidence of one stored round (empty for an invalid or missing one)."""
        if (run_id, index) not in self._evidence:
            record = self.record(run_id, index)
            self._evidence[(run_id, index)] = (
                Evidence() if record is None else stored_round_evidence(self.store, record)
            )
        return self._evidence[(run_id, index)]

    def round_metrics(self, run_id: str, index: int) -> list[RoundMetrics]:
        """Round-level metrics of both sides of a stored round ([] for an invalid or missing one)."""
        return self.evidence(run_id, index).metrics

    # --- comparisons -----------------------------------------------------------------

    def comparison_runs(self, baseline_sha: str, candidate_sha: str, key: Key, design: str) -> list[str]:
        """Complete stored runs that measured exactly this comparison under ``key`` and ``design``."""
        found = []
        for row in self.runs():
            if (row.baseline, row.candidate, row.config_hash, row.fingerprint) != (
                baseline_sha,
                candidate_sha,
                key.config_hash,
                key.fingerprint,
            ):
                continue
            if row.state not in FINAL_STATES:
                continue  # errored, interrupted or still running: not a valid measurement to pool
            try:
                manifest = self.manifest(row.run_id)
            except StoreError:
                continue
            if manifest.design != design or dirty(manifest, Side.BASELINE) or dirty(manifest, Side.CANDIDATE):
                continue
            found.append(row.run_id)
        return found

    def pooled_evidence(self, run_ids: Sequence[str], scenarios: Iterable[str], *, start: int = 0) -> Evidence:
        """Evidence of ``run_ids`` with pair and round ids made unique across runs: the k-th
        run's ids are offset by ``(start + k) * 100000`` (``start=1`` keeps ids 0..99999 free for
        a gate that tops the pool up)."""
        wanted = set(scenarios)
        pooled = Evidence()
        for k, run_id in enumerate(run_ids, start=start):
            for record in sorted(self.store.rounds(run_id), key=lambda r: r.index):
                if record.scenario not in wanted:
                    continue
                found = self.evidence(run_id, record.index)
                pooled.metrics.extend(
                    replace(m, pair=k * OFFSET + m.pair, round_index=k * OFFSET + m.round_index) for m in found.metrics
                )
                pooled.failover.extend(found.failover)
                pooled.redundancy.extend(found.redundancy)
        return pooled

    def pooled_metrics(self, run_ids: Sequence[str], scenarios: Iterable[str], *, start: int = 0) -> list[RoundMetrics]:
        return self.pooled_evidence(run_ids, scenarios, start=start).metrics

    def pooled_verdict(
        self,
        config: Config,
        baseline: Revision,
        candidate: Revision,
        *,
        key: Key | None = None,
        judge_config: JudgeConfig | None = None,
        budget_pairs: int | None = None,
    ) -> Pooled:
        """Re-judge every stored pair of ``baseline`` → ``candidate`` with the current judge config,
        hard checks included.

        The pooled pairs are judged as later looks of the sequential design that
        starts at ``rounds.count`` pairs and ends at ``budget_pairs`` (default
        ``rounds.max``), so reusing and topping up does not inflate the error rates.
        """
        if baseline.dirty or candidate.dirty:
            return Pooled(None, 0, ())
        key = key or Key.of(config)
        run_ids = self.comparison_runs(baseline.sha, candidate.sha, key, config.rounds.design.value)
        scenarios = [s.name for s in config.scenarios]
        evidence = self.pooled_evidence(run_ids, scenarios)
        pairs = count_pairs(evidence.metrics, scenarios)
        if not evidence.metrics or pairs == 0:
            return Pooled(None, 0, tuple(run_ids))
        planned = config.rounds.count
        budget = max(budget_pairs or config.rounds.max, planned, pairs)
        verdict = judge_evidence(
            evidence,
            judge_config or config.judge,
            baseline,
            candidate,
            run_id=run_ids[-1],
            planned_pairs=planned,
            budget_pairs=budget,
        )
        if len(run_ids) > 1:
            verdict = replace(
                verdict,
                notes=(*verdict.notes, Note(NoteKind.POOLED, pairs=pairs, runs=tuple(run_ids))),
            )
        return Pooled(verdict, pairs, tuple(run_ids))

    # --- per commit ------------------------------------------------------------------

    def commit_values(self, sha: str, scenario: str, key: Key) -> list[tuple[str, int, RoundMetrics]]:
        """(run_id, round index, metrics) of every valid stored round side that measured ``sha``."""
        out: list[tuple[str, int, RoundMetrics]] = []
        for run_id, index, side in self.store.find_rounds(sha, scenario, key.config_hash, key.fingerprint):
            try:
                if dirty(self.manifest(run_id), Side(side)):
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
            if (
                row.candidate == sha
                and row.config_hash == key.config_hash
                and row.fingerprint == key.fingerprint
                and row.state in FINAL_STATES
            ):
                try:
                    if not dirty(self.manifest(row.run_id), Side.CANDIDATE):
                        found.append((row.run_id, row.state, row.baseline))
                except StoreError:
                    continue
        preferred = [f for f in found if f[2] == previous]
        return (preferred or found)[0] if found else None
