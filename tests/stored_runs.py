"""Real stored runs written the way the gate writes them: a git repository, a config, a LocalStore
with a manifest, duet rounds (samples, resources, failover figures) and a verdict."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from perfgate import gitops
from perfgate.codec import manifest_from_dict, verdict_to_dict
from perfgate.config import Config, load_config
from perfgate.faults.failover import failover_figures, failover_window
from perfgate.machine import fingerprint
from perfgate.model import RESOURCE_SCHEMA, SAMPLE_SCHEMA, Design, Revision, RoundRecord, Side
from perfgate.store import LocalStore
from perfgate.store.query import judge_evidence, stored_evidence
from tests.support import make_repo

S = 1_000_000_000

CONFIG = """\
[target]
command = "{python} -c 'import time; time.sleep(60)' {port}"

[load]
locustfile = "locustfile.py"
user_classes = ["Quiet"]
users = 2
warmup = 1
duration = 1

[rounds]
design = "duet"
count = 3
max = 3

[judge]
min_count = 3
"""

LOCUSTFILE = """\
from locust import User, task


class Quiet(User):
    @task
    def nothing(self):
        pass
"""


def build_repo(path: Path, config: str = CONFIG) -> tuple[Config, Revision, Revision]:
    """Two commits with a perfgate.toml and a locustfile; their config, baseline and candidate."""
    repo = make_repo(
        path,
        [
            {"perfgate.toml": config, "locustfile.py": LOCUSTFILE, ".gitignore": ".perfgate/\n", "message": "c0"},
            {"NOTES.md": "a note\n", "message": "c1"},
        ],
    )
    return (load_config(directory=path), gitops.resolve(repo, "HEAD~1"), gitops.resolve(repo, "HEAD"))


def samples(index: int, base_us: float = 1000.0, ratio: float = 1.0, n: int = 400) -> pa.Table:
    """``n`` ok login requests per side after a 1 s warm-up; the candidate ``ratio`` times slower."""
    rows = []
    for side, scale in (("baseline", 1.0), ("candidate", ratio * (1 + 0.002 * (index % 3 - 1)))):
        for k in range(n):
            rows.append(
                (
                    2 * S + k * 10_000_000,
                    base_us * scale * (1 + 0.01 * (k % 7)),
                    "login",
                    "POST",
                    True,
                    10,
                    None,
                    side,
                    False,
                )
            )
    frame = pd.DataFrame(rows, columns=list(SAMPLE_SCHEMA.names))
    return pa.Table.from_pandas(frame, schema=SAMPLE_SCHEMA, preserve_index=False)


def backend_round(state: Any, spec: Any, ratio: float) -> tuple[RoundRecord, pa.Table, pa.Table]:
    """One round as a gate's round runner (a cluster backend) hands it back: the candidate
    ``ratio`` times slower."""
    record = RoundRecord(
        run_id=state.run_id,
        index=spec.index,
        scenario=spec.scenario,
        design=Design.DUET,
        sides=spec.sides,
        pair=spec.pair,
        started_ns=0,
        measure_start_ns=1 * S,
        ended_ns=3 * S,
    )
    return record, samples(spec.index, ratio=ratio), RESOURCE_SCHEMA.empty_table()


def write_run(
    store: LocalStore,
    config: Config,
    baseline: Revision,
    candidate: Revision,
    *,
    pairs: int = 3,
    state: str | None = "judged",
    lost: int = 0,
    ratio: float = 1.0,
    config_hash: str | None = None,
    extra_manifest: dict | None = None,
) -> str:
    """One stored duet run of ``pairs`` valid rounds; ``lost`` acknowledged writes lost by the candidate
    in every round's outage; ``state``: "judged" (its verdict stored, as the gate does), a state to mark
    it with ("error", "interrupted"), or None (left "running")."""
    manifest = {
        "kind": "run",
        "baseline": asdict(baseline),
        "candidate": asdict(candidate),
        "config": config.to_dict(),
        "config_hash": config_hash or config.measurement_hash(),
        "fingerprint": fingerprint(),
        "design": "duet",
        "scenarios": [s.name for s in config.scenarios],
        **(extra_manifest or {}),
    }
    run_id = store.create_run(manifest_from_dict(manifest))
    scenario = config.scenarios[0].name
    for index in range(pairs):
        table = samples(index, ratio=ratio)
        modes = pd.DataFrame(
            {
                "t_ns": [1 * S, 2 * S, 3 * S],
                "side": "x",
                "process": "target",
                "mode": ["read-write", "read-only", "read-write"],
            }
        )
        failover = []
        for side in ("baseline", "candidate"):
            figures = failover_figures(
                table.to_pandas(),
                modes.assign(side=side),
                side,
                int(1.5 * S),
                int(2.5 * S),
                acked_lost=lost if side == "candidate" else 0,
                acknowledged=20,
            )
            failover.append(failover_window(figures, int(1.5 * S), int(2.5 * S)))
        record = RoundRecord(
            run_id=run_id,
            index=index,
            scenario=scenario,
            design=Design.DUET,
            sides=(Side.BASELINE, Side.CANDIDATE),
            pair=index,
            started_ns=0,
            measure_start_ns=1 * S,
            ended_ns=3 * S,
            windows=tuple(failover),
        )
        store.save_round(record, table, RESOURCE_SCHEMA.empty_table())
    if state == "judged":  # the verdict the gate would store
        verdict = judge_evidence(stored_evidence(store, run_id), config.judge, baseline, candidate, run_id=run_id)
        store.save_verdict(run_id, verdict_to_dict(verdict))
    elif state is not None:
        store.mark_run(run_id, state)
    return run_id
