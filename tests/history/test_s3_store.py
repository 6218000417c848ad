"""The shared S3 store, against moto's server over real HTTP on loopback (no in-process patching)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import boto3
import pytest

from perfgate.errors import StoreError
from perfgate.model import Design, RoundRecord, Side
from perfgate.report import write_reports
from perfgate.store.s3 import S3Store, open_s3_store, parse_url
from tests.minimal_runs import BASE, CAND, samples, write_run
from tests.support import ROOT, free_port


def test_round_trip_through_a_cold_cache(bucket, tmp_path):
    writer = S3Store(bucket, "team/perf", cache_dir=tmp_path / "writer")
    run_id = write_run(writer, invalid=(1,))
    reader = S3Store.from_url(f"s3://{bucket}/team/perf", tmp_path / "reader")  # another runner: empty cache
    assert [r.run_id for r in reader.list_runs()] == [run_id]
    row = reader.list_runs()[0]
    assert (row.baseline, row.candidate, row.state) == (BASE.sha, CAND.sha, "pass")
    assert reader.resolve(run_id[:12]) == run_id and reader.resolve("latest") == run_id
    assert reader.manifest(run_id).config_hash == "cfg1"
    assert [r.index for r in reader.rounds(run_id)] == [0, 1, 2]
    assert reader.rounds(run_id)[1].valid is False
    assert reader.samples(run_id, 2)["latency_us"].tolist() == writer.samples(run_id, 2)["latency_us"].tolist()
    assert reader.verdict(run_id)["verdict"] == "pass"
    assert (tmp_path / "reader" / "runs" / run_id / "rounds" / "002.samples.parquet").is_file()
    # keyed by commit, scenario, config hash and fingerprint; invalid rounds are not offered
    assert reader.find_rounds(CAND.sha, "chat", "cfg1", "fp1") == [(run_id, 0, "candidate"), (run_id, 2, "candidate")]
    assert reader.find_rounds(BASE.sha, "chat", "cfg1", "fp1") == [(run_id, 0, "baseline"), (run_id, 2, "baseline")]
    assert reader.find_rounds(CAND.sha, "chat", "cfg1", "other-machine") == []
    assert reader.find_rounds(CAND.sha, "chat", "cfg2", "fp1") == []
    assert reader.find_rounds(CAND.sha, "storm", "cfg1", "fp1") == []
    # the objects really are in the bucket
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"team/perf/runs/{run_id}/rounds/000.samples.parquet" in keys
    assert f"team/perf/index/runs/{run_id}.json" in keys


def test_report_renders_from_s3_alone(bucket, tmp_path):
    run_id = write_run(S3Store(bucket, cache_dir=tmp_path / "a"))
    reader = S3Store(bucket, cache_dir=tmp_path / "b")
    paths = write_reports(reader, run_id, tmp_path / "out", markdown=tmp_path / "out" / "summary.md")
    assert paths.html.is_file() and "perfgate" in paths.markdown.read_text()


def test_a_run_in_progress_is_seen_then_finished(bucket, tmp_path):
    writer = S3Store(bucket, cache_dir=tmp_path / "w")
    run_id = write_run(writer, rounds=1, verdict=False)
    reader = S3Store(bucket, cache_dir=tmp_path / "r")
    assert reader.list_runs()[0].state == "running"
    assert reader.verdict(run_id) is None
    assert len(reader.rounds(run_id)) == 1
    record = RoundRecord(
        run_id=run_id,
        index=1,
        scenario="chat",
        design=Design.DUET,
        sides=(Side.BASELINE, Side.CANDIDATE),
        pair=1,
        started_ns=0,
        measure_start_ns=0,
        ended_ns=1,
    )
    writer.save_round(record, samples(10, 5.0))
    writer.mark_run(run_id, "interrupted")
    assert len(reader.rounds(run_id)) == 2  # new rounds are fetched, cached ones kept
    assert reader.list_runs()[0].state == "interrupted"


def test_two_processes_write_at_once(bucket, tmp_path, aws_env):
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from perfgate.store.s3 import S3Store
        from tests.minimal_runs import write_run
        store = S3Store({bucket!r}, "shared", cache_dir=Path(sys.argv[1]))
        print(",".join(write_run(store, rounds=6) for _ in range(3)))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the child imports tests.minimal_runs
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / f"cache{k}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    written = {run for out, _ in outputs for run in out.strip().split(",")}
    assert len(written) == 6
    reader = S3Store(bucket, "shared", cache_dir=tmp_path / "reader")
    assert {r.run_id for r in reader.list_runs()} == written
    assert all(len(reader.rounds(run)) == 6 for run in written)
    assert len(reader.find_rounds(CAND.sha, "chat", "cfg1", "fp1")) == 36


def test_errors_are_one_line_store_errors(aws_env, bucket, tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        S3Store("no-such-bucket", cache_dir=tmp_path / "c")
    store = S3Store(bucket, cache_dir=tmp_path / "c")
    with pytest.raises(StoreError, match="not in the store"):
        store.rounds("20990101T000000-000000")
    with pytest.raises(StoreError, match="not in the store"):
        store.resolve("nope")
    with pytest.raises(StoreError, match="not an s3:// URL"):
        parse_url("/tmp/x")
    with pytest.raises(StoreError, match="no bucket"):
        parse_url("s3:///prefix")


def test_unreachable_endpoint_is_a_store_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StoreError, match="S3 head_bucket failed"):
        open_s3_store("s3://bucket/prefix", tmp_path)


def test_open_s3_store_caches_under_the_root(bucket, tmp_path, monkeypatch):
    monkeypatch.delenv("PERFGATE_S3_CACHE", raising=False)
    store = open_s3_store(f"s3://{bucket}/p/q", tmp_path)
    assert store.root == tmp_path / ".perfgate-cache" / bucket / "p/q"
    monkeypatch.setenv("PERFGATE_S3_CACHE", str(tmp_path / "elsewhere"))
    assert open_s3_store(f"s3://{bucket}", tmp_path).root == tmp_path / "elsewhere" / bucket / "_"
    json.dumps(store.list_runs())
