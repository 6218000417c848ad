"""Hostile and broken stores: names from a store never become paths outside it, and a corrupt
file is one StoreError naming it (exit 3 from the CLI), never a traceback.

S3 runs against moto's server over real HTTP on loopback; local stores are real directories.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import boto3
import pytest

from perfgate.codec import manifest_from_dict, verdict_to_dict
from perfgate.errors import StoreError
from perfgate.model import Design, RoundRecord, Side, State, Verdict
from perfgate.report import write_reports
from perfgate.store.local import LocalStore
from perfgate.store.names import check_name, round_file, round_stem
from perfgate.store.s3 import S3Store
from tests.minimal_runs import BASE, CAND, samples, write_run
from tests.support import run_cli

pytestmark = pytest.mark.timeout(60)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def assert_one_line_exit_3(result, *needles: str) -> None:
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# --- the one name rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["..", ".", "../x", "a/b", "a\\b", ".hidden", "", "a\x00b", "x" * 129, "a b", "%2e%2e", 7, None]
)
def test_unsafe_names_are_refused(name):
    with pytest.raises(StoreError, match="invalid run id"):
        check_name(name, "run id", "somewhere")


@pytest.mark.parametrize("name", ["20250101T000000-abc123", "pg-20250101000000-abc123", "a" * 40, "fp1", "r1.x"])
def test_real_names_pass(name):
    assert check_name(name, "run id", "somewhere") == name


@pytest.mark.parametrize("index, stem", [(0, "000"), (7, "007"), (999, "999"), (1000, "1000"), (123456, "123456")])
def test_round_file_names_round_trip_for_any_index(index, stem):
    assert round_stem(index) == stem
    assert round_file(f"{stem}.json") == (index, ".json")
    assert round_file(f"{stem}.samples.parquet") == (index, ".samples.parquet")


@pytest.mark.parametrize("name", ["000/../../x.json", "12.json", "abc.json", "007.json.bak", ".007.json", "-01.json"])
def test_other_round_file_names_are_not_rounds(name):
    assert round_file(name) is None


# --- S3: hostile keys ---------------------------------------------------------------------


def test_report_latest_refuses_a_traversing_run_key(bucket, tmp_path, aws_env):
    """The reported attack: a run row whose key climbs out of the index. Before, the CLI cached
    the attacker's row (and then the run's files) outside the store."""
    s3 = boto3.client("s3")
    evil = "team/index/runs/../../../../victim/pwned.json"
    row = {"run_id": "../../../../victim/pwned", "created": 9e12, "state": "pass"}
    s3.put_object(Bucket=bucket, Key=evil, Body=json.dumps(row).encode())
    s3.put_object(Bucket=bucket, Key="team/runs/../../../../victim/pwned/manifest.json", Body=b'{"x": "attacker"}')
    assert evil in {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}  # the key really is that
    nest = tmp_path / "a" / "b" / "c"
    nest.mkdir(parents=True)
    before = files_under(tmp_path)
    result = run_cli(
        "report",
        "latest",
        "--store",
        f"s3://{bucket}/team",
        "--out",
        str(nest / "out"),
        cwd=nest,
        env={"PERFGATE_S3_CACHE": str(nest / "cache")},
    )
    assert_one_line_exit_3(result, evil, "invalid run id")
    assert not list(tmp_path.rglob("*pwned*")) and not list(tmp_path.rglob("victim"))
    assert {p for p in files_under(tmp_path) - before if nest / "cache" not in p.parents} == set()


def test_a_run_row_for_another_run_id_is_refused(bucket, tmp_path):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="index/runs/r1.json", Body=json.dumps({"run_id": "../../x"}).encode())
    with pytest.raises(StoreError, match=r"index/runs/r1\.json: not the index row of run 'r1'"):
        S3Store(bucket, cache_dir=tmp_path / "c").list_runs()
    assert not (tmp_path / "x").exists()


def test_a_run_row_of_the_wrong_types_is_refused_by_name(bucket, tmp_path):
    row = {"run_id": "r1", "created": 1.0, "baseline": "a", "candidate": "b", "state": ["pass"]}
    boto3.client("s3").put_object(Bucket=bucket, Key="index/runs/r1.json", Body=json.dumps(row).encode())
    with pytest.raises(StoreError, match=r"index/runs/r1\.json: the run index row's 'state' is not a string"):
        S3Store(bucket, cache_dir=tmp_path / "c").list_runs()


def test_a_traversing_round_key_is_refused(bucket, tmp_path):
    writer = S3Store(bucket, cache_dir=tmp_path / "w")
    run_id = write_run(writer, rounds=1)
    evil = f"runs/{run_id}/rounds/000/../../../../../../victim.json"
    boto3.client("s3").put_object(Bucket=bucket, Key=evil, Body=b"{}")
    reader = S3Store(bucket, cache_dir=tmp_path / "r" / "cache")
    with pytest.raises(StoreError) as info:
        write_reports(reader, run_id, tmp_path / "r" / "out")
    assert str(info.value) == f"s3://{bucket}/{evil}: not a round file name"
    assert not list(tmp_path.rglob("victim*"))


@pytest.mark.parametrize(
    "entry, message",
    [
        ("..%2F..%2F..%2Fevil.000.baseline.1", "invalid run id"),
        ("run1.000.elsewhere.1", "invalid side"),
        ("run1.-1.baseline.1", "invalid round index"),
        ("run1.000.baseline", "not a round index entry"),
    ],
)
def test_hostile_round_index_entries_are_refused(bucket, tmp_path, entry, message):
    prefix = f"case-{len(list(boto3.client('s3').list_objects_v2(Bucket=bucket).get('Contents', [])))}"
    writer = S3Store(bucket, prefix, cache_dir=tmp_path / "w")
    write_run(writer, rounds=1)
    key = f"{prefix}/index/rounds/{CAND.sha}/chat/cfg1/fp1/{entry}"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"")
    with pytest.raises(StoreError, match=message) as info:
        S3Store(bucket, prefix, cache_dir=tmp_path / "r").find_rounds(CAND.sha, "chat", "cfg1", "fp1")
    assert str(info.value).startswith(f"s3://{bucket}/{key}: ") and "\n" not in str(info.value)


def test_a_scenario_name_cannot_climb_out_of_the_round_index(bucket, tmp_path):
    store = S3Store(bucket, cache_dir=tmp_path / "c")
    assert store._index_prefix("a" * 40, "..", "h", "f") == f"index/rounds/{'a' * 40}/%2E%2E/h/f/"
    with pytest.raises(StoreError, match="invalid sha"):
        store.find_rounds("../..", "chat", "h", "f")


# --- local stores: hostile rows, corrupt files ---------------------------------------------


def local_run(root: Path, rounds: int = 2, first: int = 0) -> tuple[LocalStore, str]:
    store = LocalStore(root)
    run_id = store.create_run(
        manifest_from_dict(
            {
                "run_id": "20250101T000000-abc123",
                "baseline": {"sha": BASE.sha},
                "candidate": {"sha": CAND.sha},
                "config_hash": "h",
                "fingerprint": "f",
                "scenarios": ["chat"],
            }
        )
    )
    for index in range(first, first + rounds):
        record = RoundRecord(
            run_id=run_id,
            index=index,
            scenario="chat",
            design=Design.DUET,
            sides=(Side.BASELINE, Side.CANDIDATE),
            pair=index - first,
            started_ns=0,
            measure_start_ns=0,
            ended_ns=2_000_000_000,
        )
        store.save_round(record, samples(40, 1000.0 + index))
    store.save_verdict(run_id, verdict_to_dict(Verdict(State.PASS, (), BASE, CAND, run_id=run_id)))
    return store, run_id


def test_a_traversing_run_id_in_a_local_index_is_refused(tmp_path):
    store, _ = local_run(tmp_path / "w" / "store")
    with sqlite3.connect(store.root / "index.sqlite") as db:
        db.execute("INSERT INTO runs (run_id, created, state) VALUES ('../../../victim', 9e12, 'pass')")
    before = files_under(tmp_path)
    result = run_cli(
        "report", "latest", "--store", str(store.root), "--out", str(tmp_path / "w" / "out"), cwd=tmp_path / "w"
    )
    assert_one_line_exit_3(result, "invalid run id '../../../victim'")
    assert files_under(tmp_path) == before


def test_round_counts_past_999_are_read_in_order(tmp_path):
    store, run_id = local_run(tmp_path / "s", rounds=3, first=998)
    assert [p.name for p in sorted((store.run_dir(run_id) / "rounds").glob("*.json"))] == [
        "1000.json",
        "998.json",
        "999.json",
    ]
    assert [r.index for r in store.rounds(run_id)] == [998, 999, 1000]
    assert store.samples(run_id, 1000)["latency_us"].min() == 2000.0
    paths = write_reports(store, run_id, tmp_path / "out", json_path=tmp_path / "out" / "v.json")
    assert paths.html.is_file()


def _corrupt_manifest_bytes(store: LocalStore, run_id: str) -> Path:
    path = store.run_dir(run_id) / "manifest.json"
    path.write_bytes(b'{"run_id": "\xff\xfe"}')
    return path


def _manifest_without_revisions(store: LocalStore, run_id: str) -> Path:
    path = store.run_dir(run_id) / "manifest.json"
    path.write_text(json.dumps({"run_id": run_id, "kind": "run"}))
    return path


def _manifest_a_list(store: LocalStore, run_id: str) -> Path:
    path = store.run_dir(run_id) / "manifest.json"
    path.write_text("[1, 2]")
    return path


def _empty_round(store: LocalStore, run_id: str) -> Path:
    path = store.run_dir(run_id) / "rounds" / "001.json"
    path.write_text("{}")
    return path


def _round_of_another_run(store: LocalStore, run_id: str) -> Path:
    path = store.run_dir(run_id) / "rounds" / "001.json"
    path.write_text(path.read_text().replace(run_id, "someone-else"))
    return path


def _truncated_parquet(store: LocalStore, run_id: str) -> Path:
    path = store.run_dir(run_id) / "rounds" / "001.samples.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _garbage_resources(store: LocalStore, run_id: str) -> Path:
    path = store.run_dir(run_id) / "rounds" / "000.resources.parquet"
    path.write_bytes(b"PAR1 not really")
    return path


def _verdict_not_json(store: LocalStore, run_id: str) -> Path:
    path = store.run_dir(run_id) / "verdict.json"
    path.write_text('{"verdict": ')
    return path


def _from_a_newer_perfgate(name: str):
    def corrupt(store: LocalStore, run_id: str) -> Path:
        path = store.run_dir(run_id) / name
        path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 99}))
        return path

    corrupt.__name__ = f"{name}_from_a_newer_perfgate"
    return corrupt


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_from_a_newer_perfgate("manifest.json"), "written by a newer perfgate (schema_version 99"),
        (_from_a_newer_perfgate("rounds/001.json"), "written by a newer perfgate (schema_version 99"),
        (_from_a_newer_perfgate("verdict.json"), "written by a newer perfgate (schema_version 99"),
        (_corrupt_manifest_bytes, "not UTF-8"),
        (_manifest_without_revisions, "the manifest has no baseline revision"),
        (_manifest_a_list, "a JSON object was expected, not list"),
        (_empty_round, "not a round record: missing key"),
        (_round_of_another_run, "holds round 1 of run 'someone-else'"),
        (_truncated_parquet, "unreadable"),
        (_garbage_resources, "unreadable"),
        (_verdict_not_json, "unreadable"),
    ],
    ids=lambda x: getattr(x, "__name__", "")[:40],
)
def test_a_corrupt_store_file_is_one_line_naming_it(tmp_path, corrupt, message):
    store, run_id = local_run(tmp_path / "store")
    path = corrupt(store, run_id)
    with pytest.raises(StoreError) as info:
        write_reports(store, run_id, tmp_path / "out")
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text
    result = run_cli("report", run_id, "--store", str(store.root), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert_one_line_exit_3(result, str(path), message)
