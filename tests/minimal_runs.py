"""Minimal stored runs for the store tests: fixed baseline and candidate shas, a few rounds of tiny
samples and a pass verdict, written through any store's interface (local or S3)."""

from __future__ import annotations

import pyarrow as pa

from perfgate.codec import manifest_from_dict, verdict_to_dict
from perfgate.model import SAMPLE_SCHEMA, Design, Revision, RoundRecord, Side, State, Verdict

BASE = Revision("HEAD~1", "a" * 40, "base")
CAND = Revision("HEAD", "b" * 40, "candidate")


def samples(n: int, latency: float) -> pa.Table:
    return pa.table(
        {
            "t_ns": pa.array(range(n), pa.int64()),
            "latency_us": [latency + i % 7 for i in range(n)],
            "name": ["login"] * n,
            "type": ["POST"] * n,
            "ok": [True] * n,
            "bytes": [10] * n,
            "error": pa.array([None] * n, pa.string()),
            "side": ["baseline", "candidate"] * (n // 2),
            "warmup": [False] * n,
        },
        schema=SAMPLE_SCHEMA,
    )


def write_run(store, *, config_hash="cfg1", fingerprint="fp1", rounds=3, invalid=(), verdict=True) -> str:
    manifest = {
        "kind": "run",
        "baseline": {"sha": BASE.sha, "dirty": False},
        "candidate": {"sha": CAND.sha, "dirty": False},
        "config_hash": config_hash,
        "fingerprint": fingerprint,
        "design": "duet",
        "scenarios": ["chat"],
        "config": {},
    }
    run_id = store.create_run(manifest_from_dict(manifest))
    for index in range(rounds):
        record = RoundRecord(
            run_id=run_id,
            index=index,
            scenario="chat",
            design=Design.DUET,
            sides=(Side.BASELINE, Side.CANDIDATE),
            pair=index,
            started_ns=0,
            measure_start_ns=0,
            ended_ns=2_000_000_000,
            valid=index not in invalid,
            invalid_reason="saturated" if index in invalid else "",
        )
        store.save_round(record, samples(100, 1000.0 + index))
    if verdict:
        store.save_verdict(run_id, verdict_to_dict(Verdict(State.PASS, (), BASE, CAND, run_id=run_id)))
    return run_id
