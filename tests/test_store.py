import multiprocessing

import pyarrow as pa
import pytest

from perfgate.errors import StoreError
from perfgate.model import SAMPLE_SCHEMA, Design, Manifest, Revision, RoundRecord, Side
from perfgate.store import LocalStore


def samples(n: int, side: str) -> pa.Table:
    return pa.table(
        {
            "t_ns": list(range(n)),
            "latency_us": [float(i) for i in range(n)],
            "name": ["login"] * n,
            "type": ["POST"] * n,
            "ok": [True] * n,
            "bytes": [1] * n,
            "error": [None] * n,
            "side": [side] * n,
            "warmup": [False] * n,
        },
        schema=SAMPLE_SCHEMA,
    )


def record(run_id: str, index: int, valid: bool = True) -> RoundRecord:
    return RoundRecord(run_id, index, "chat", Design.DUET, (Side.BASELINE, Side.CANDIDATE), index, 1, 2, 3, valid=valid)


MANIFEST = Manifest("", Revision("", "aaa"), Revision("", "bbb"), config_hash="h", fingerprint="f")  # a new run id


def test_round_trip(tmp_path):
    store = LocalStore(tmp_path / ".perfgate")
    run_id = store.create_run(MANIFEST)
    store.save_round(record(run_id, 0), samples(5, "baseline"))
    store.save_round(record(run_id, 1, valid=False), samples(3, "candidate"))
    assert [r.index for r in store.rounds(run_id)] == [0, 1]
    assert store.rounds(run_id)[1].valid is False
    frame = store.samples(run_id, 0)
    assert list(frame.columns) == list(SAMPLE_SCHEMA.names) and len(frame) == 5
    assert store.resources(run_id, 0).empty
    assert store.resolve(run_id[:10]) == run_id == store.resolve("latest")
    assert store.find_rounds("bbb", "chat", "h", "f") == [(run_id, 0, "candidate")]
    store.save_verdict(run_id, {"verdict": "pass"})
    assert store.verdict(run_id) == {"verdict": "pass"}
    assert store.list_runs()[0].state == "pass"


def test_missing_things_raise_store_errors(tmp_path):
    store = LocalStore(tmp_path / ".perfgate")
    with pytest.raises(StoreError, match="not in the store"):
        store.resolve("nothing")
    with pytest.raises(StoreError, match="not in the store"):
        store.rounds("nothing")


def _writer(root: str, n: int) -> None:
    store = LocalStore(root)
    for _ in range(n):
        run_id = store.create_run(MANIFEST)
        for index in range(3):
            store.save_round(record(run_id, index), samples(50, "baseline"))


def test_two_processes_write_at_once(tmp_path):
    root = str(tmp_path / ".perfgate")
    LocalStore(root)
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(root, 8)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    store = LocalStore(root)
    runs = store.list_runs()
    assert len(runs) == 16
    assert all(len(store.rounds(r.run_id)) == 3 for r in runs)
    assert len(store.find_rounds("aaa", "chat", "h", "f")) == 48
