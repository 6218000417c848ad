"""The harness's --replay path, on a store filled through the real LocalStore API."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

from perfgate.codec import manifest_from_dict
from perfgate.judge.simulate import NoiseModel, calibrate, round_frames
from perfgate.model import SAMPLE_SCHEMA
from perfgate.store import LocalStore

ROOT = Path(__file__).resolve().parents[2]


def test_replay_reports_stored_aa_runs(tmp_path):
    store = LocalStore(tmp_path / ".perfgate")
    model = calibrate(NoiseModel(samples=1500), pairs=60)
    sha = {"sha": "a" * 40, "label": "HEAD"}
    for k in range(2):
        run_id = store.create_run(
            manifest_from_dict({"run_id": f"aa{k}", "baseline": sha, "candidate": sha, "kind": "run"})
        )
        for record, frame in round_frames(np.random.default_rng(k), model, pairs=8, run_id=run_id):
            store.save_round(record, pa.Table.from_pandas(frame, schema=SAMPLE_SCHEMA, preserve_index=False))
    other = {"sha": "b" * 40, "label": "main"}
    store.create_run(manifest_from_dict({"run_id": "ab", "baseline": sha, "candidate": other}))
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "verdict_quality.py"),
            "--replay",
            str(tmp_path / ".perfgate"),
            "--resample",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert "2 A/A runs" in out
    assert "aa0: " in out and "aa1: " in out and "ab:" not in out
    assert "stored A/A runs: false fail" in out
    assert "20 A/A gates resampled from 16 recorded pairs" in out
