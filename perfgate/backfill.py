"""Backfill: measure each first-parent commit of a range against its parent, with the gate.

It sits above the gate, beside bisect; it skips what the store already holds, so an
interrupted backfill resumes where it stopped. :mod:`perfgate.history` then reads the series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from perfgate import gitops
from perfgate.config import Config
from perfgate.gate import GateOptions, apply_options, run_gate
from perfgate.model import Revision
from perfgate.progress import Progress
from perfgate.store import open_store
from perfgate.store.query import Key, Measurements


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


def backfill(
    config: Config,
    repo_dir: Path,
    rev_range: str,
    options: GateOptions,
    *,
    progress: Progress | None = None,
    on_step: Callable[[BackfillStep], None] | None = None,
    limit: int | None = None,
) -> list[BackfillStep]:
    """Measure each commit of ``rev_range`` against its first parent (a root commit against
    itself, which doubles as A/A data). A commit that already has ``rounds.count`` valid
    stored rounds under this config and machine is skipped, so an interrupted backfill
    resumes where it stopped and a second one measures nothing."""
    effective = apply_options(config, options)
    key = Key.of(effective)
    measurements = Measurements(open_store(effective.store, effective.root))
    repo = gitops.open_repo(repo_dir)
    steps = []
    for revision in gitops.list_commits(repo_dir, rev_range, limit):
        parents = repo.commit(revision.sha).parents
        baseline = gitops.resolve(repo, parents[0].hexsha) if parents else revision
        if stored_rounds(measurements, revision.sha, effective, key) >= effective.rounds.count:
            step = BackfillStep(revision, baseline, "stored")
        else:
            result = run_gate(
                config, repo_dir, replace(options, baseline=baseline.sha, candidate=revision.sha), progress
            )
            step = BackfillStep(revision, baseline, "measured", result.run_id, result.verdict.state.value)
        steps.append(step)
        if on_step is not None:
            on_step(step)
    return steps
