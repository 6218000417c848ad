"""Automated bisection with the gate's own verdict at each step.

Each step compares GOOD with a commit between GOOD and BAD, the way a gate
would, on the watched metric(s): a regression moves BAD down to it, a pass
moves GOOD's side up to it. BAD itself is checked first, so a bisect never
hunts a regression that is not there. Unlike ``git bisect run`` with a
threshold script (or ``asv find``, which assumes monotonic timings), a step
that is inconclusive is not guessed: it buys more pairs of rounds, one look at
a time, up to the budget, and only then gives up and reports the commits that
are still suspect.

Every step's verdict is re-judged from the store, pooled over every stored pair
of that comparison (same commits, config hash, machine fingerprint and design),
and a gate is run only for the pairs that are missing. A second bisect over the
same range therefore measures nothing.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import git

from perfgate import gitops
from perfgate.config import METRICS, Config, split_metric_spec
from perfgate.errors import ConfigError, RevisionError, StoreError
from perfgate.gate import GateOptions, apply_options, run_gate
from perfgate.judge import pairs_to_buy
from perfgate.judge.invariants import NAME as FAILOVER
from perfgate.judge.rules import STATE_ORDER
from perfgate.model import MetricComparison, Revision, State
from perfgate.progress import Progress
from perfgate.store import open_store
from perfgate.store.query import Measurements


@dataclass(frozen=True)
class Watch:
    """What a step is judged on: one metric (optionally of one request name), or everything."""

    metric: str | None = None
    name: str | None = None

    @classmethod
    def parse(cls, spec: str | None) -> Watch:
        """``p95``, ``login.p95`` or ``login.p99.9``; None watches every judged metric."""
        if not spec:
            return cls()
        parsed = split_metric_spec(spec)
        if parsed is not None:
            name, metric = parsed
            return cls(metric, name)
        raise ConfigError(f"--metric {spec!r}: expected METRIC or NAME.METRIC with a metric in {', '.join(METRICS)}")

    def label(self) -> str:
        if self.metric is None:
            return "every judged metric"
        return f"{self.name}.{self.metric}" if self.name else self.metric

    def config(self, config: Config) -> Config:
        if self.metric is None:
            return config
        return replace(config, judge=replace(config.judge, metrics=(self.metric,)))

    def state(self, metrics: tuple[MetricComparison, ...]) -> tuple[State, tuple[MetricComparison, ...]]:
        # A failed hard check (lost acknowledged writes, a service that went down) is a regression
        # whatever metric is watched: no latency excuses it.
        watched = tuple(
            m
            for m in metrics
            if self.name is None or m.name == self.name or (m.name == FAILOVER and m.verdict is State.REGRESSION)
        )
        if not watched:
            return State.INCONCLUSIVE, ()
        states = {m.verdict for m in watched}
        if State.REGRESSION in states:
            return State.REGRESSION, watched
        if states <= {State.PASS, State.IMPROVEMENT}:
            return State.PASS, watched
        return State.INCONCLUSIVE, watched


@dataclass(frozen=True)
class Step:
    revision: Revision
    state: State
    pairs: int
    gates: int  # gates this step ran (0: decided from the store alone)
    run_ids: tuple[str, ...]
    evidence: tuple[MetricComparison, ...]
    budget: int  # pairs this step may buy up to

    @property
    def deciding(self) -> MetricComparison | None:
        """The watched metric that decides the step: the worst state, then the largest ratio."""
        return min(self.evidence, key=lambda m: (STATE_ORDER[m.verdict], -m.ratio), default=None)

    @property
    def spent(self) -> bool:
        """Inconclusive with its whole budget of pairs spent."""
        return self.state is State.INCONCLUSIVE and self.pairs >= self.budget


class Ending(enum.StrEnum):
    """How a bisect ended (the command says it in words)."""

    FOUND = "found"  # the first bad commit
    NO_REGRESSION = "no_regression"  # BAD passed against GOOD
    UNCONFIRMED = "unconfirmed"  # BAD stayed inconclusive against GOOD
    STOPPED = "stopped"  # a step between them stayed inconclusive: the suspects remain


@dataclass(frozen=True)
class BisectResult:
    good: Revision
    bad: Revision
    watch: Watch
    first_bad: Revision | None
    last_good: Revision | None
    suspects: tuple[Revision, ...]  # the commits still suspect when a step stayed inconclusive
    steps: tuple[Step, ...]
    gates: int
    wall_s: float
    ending: Ending
    last_step: Step  # the step that ended it

    @property
    def found(self) -> bool:
        return self.first_bad is not None


class Bisector:
    def __init__(
        self,
        config: Config,
        repo_dir: Path,
        options: GateOptions,
        watch: Watch,
        *,
        progress: Progress | None = None,
        on_step: Callable[[Step], None] | None = None,
    ):
        self.config, self.repo_dir, self.options, self.watch = config, repo_dir, options, watch
        self.effective = watch.config(apply_options(config, options))
        self.measurements = Measurements(open_store(self.effective.store, self.effective.root))
        self.progress = progress or Progress()
        self.on_step = on_step
        self.gates = 0

    def judge_step(self, good: Revision, revision: Revision) -> Step:
        """GOOD → ``revision`` on the watched metric(s): stored pairs first, then gates for more pairs."""
        rounds = self.effective.rounds
        budget = max(rounds.max, rounds.count)
        gates = 0
        measured_before = -1
        while True:
            pooled = self.measurements.pooled_verdict(self.effective, good, revision, budget_pairs=budget)
            if pooled.pairs <= measured_before:  # never loop on a gate that adds nothing
                raise StoreError(
                    f"bisect: the gate for {revision.short} stored no new valid pair of rounds "
                    f"(were they all invalid?); see {self.effective.store}"
                )
            runs = pooled.run_ids
            state: State = State.INCONCLUSIVE
            evidence: tuple[MetricComparison, ...] = ()
            if pooled.verdict is not None and pooled.pairs >= rounds.count:
                state, evidence = self.watch.state(pooled.verdict.metrics)
                if not evidence and self.watch.metric is not None:
                    raise ConfigError(
                        f"--metric {self.watch.label()}: not measured (no such request name, or "
                        f"fewer than min_count requests per round)"
                    )
                if state is not State.INCONCLUSIVE or pooled.pairs >= budget:
                    return Step(revision, state, pooled.pairs, gates, runs, evidence, budget)
            # undecided here (or short of the planned pairs): the sequential design says how many more
            missing = pairs_to_buy({"step": pooled.pairs}, {"step"}, rounds.count, budget).get("step", 0)
            if pooled.pairs >= rounds.count:
                self.progress.message(
                    f"{revision.sha[:10]}: inconclusive after {pooled.pairs} pairs; buying {max(missing, 2)} more"
                )
            pairs = max(missing, 2)  # a gate runs at least 2 pairs
            # The bisect pools stored pairs itself: the gate must measure new ones, not reuse them.
            run_gate(
                self.config,
                self.repo_dir,
                replace(
                    self.options, baseline=good.sha, candidate=revision.sha, rounds=pairs, max_rounds=pairs, reuse=False
                ),
                self.progress,
            )
            gates += 1
            self.gates += 1
            self.measurements.refresh()
            measured_before = pooled.pairs

    def step(self, good: Revision, revision: Revision, steps: list[Step]) -> Step:
        step = self.judge_step(good, revision)
        steps.append(step)
        if self.on_step is not None:
            self.on_step(step)
        return step


def bisect(
    config: Config,
    repo_dir: Path,
    good: str,
    bad: str,
    options: GateOptions,
    *,
    watch: Watch = Watch(),
    progress: Progress | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> BisectResult:
    """Find the first commit on the first-parent path from ``good`` to ``bad`` that regresses."""
    started = time.monotonic()
    repo = gitops.open_repo(repo_dir)
    good_rev, bad_rev = gitops.resolve(repo, good), gitops.resolve(repo, bad)
    try:
        repo.git.merge_base("--is-ancestor", good_rev.sha, bad_rev.sha)
    except git.GitCommandError as exc:
        raise RevisionError(f"GOOD {good!r} is not an ancestor of BAD {bad!r}") from exc
    if good_rev.sha == bad_rev.sha:
        raise RevisionError(f"GOOD and BAD are the same commit ({good_rev.short})")
    commits = gitops.list_commits(repo_dir, f"{good_rev.sha}..{bad_rev.sha}")
    bisector = Bisector(config, repo_dir, options, watch, progress=progress, on_step=on_step)
    steps: list[Step] = []

    def result(
        first_bad: Revision | None, last_good: Revision | None, suspects: list[Revision], ending: Ending
    ) -> BisectResult:
        return BisectResult(
            good_rev,
            bad_rev,
            watch,
            first_bad,
            last_good,
            tuple(suspects),
            tuple(steps),
            bisector.gates,
            time.monotonic() - started,
            ending,
            steps[-1],
        )

    check = bisector.step(good_rev, commits[-1], steps)
    if check.state is State.PASS:
        return result(None, None, [], Ending.NO_REGRESSION)
    if check.state is State.INCONCLUSIVE:
        return result(None, None, commits, Ending.UNCONFIRMED)
    low, high = -1, len(commits) - 1  # commits[low] (or GOOD) is good, commits[high] is bad
    while high - low > 1:
        mid = (low + high) // 2
        step = bisector.step(good_rev, commits[mid], steps)
        if step.state is State.REGRESSION:
            high = mid
        elif step.state is State.PASS:
            low = mid
        else:
            suspects = commits[low + 1 : high + 1]
            return result(None, commits[low] if low >= 0 else good_rev, suspects, Ending.STOPPED)
    last_good = commits[low] if low >= 0 else good_rev
    return result(commits[high], last_good, [commits[high]], Ending.FOUND)
