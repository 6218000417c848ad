"""``perfgate runs``: the stored runs, newest first, as a table and as JSON."""

import json

from perfgate.store.local import LocalStore
from tests.minimal_runs import BASE, CAND, write_run
from tests.support import run_cli


def test_runs_lists_the_stored_runs_newest_first(tmp_path):
    store = LocalStore(tmp_path / ".perfgate")
    first = write_run(store)
    second = write_run(store, verdict=False)  # still "running"
    out = tmp_path / "runs.json"
    result = run_cli("runs", "--json", str(out), cwd=tmp_path, env={"COLUMNS": "120"})
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())
    assert [r["run_id"] for r in rows] == [second, first]
    assert rows[1]["state"] == "pass" and rows[0]["state"] == "running"
    assert (rows[1]["baseline"], rows[1]["candidate"]) == (BASE.sha, CAND.sha) and rows[1]["created"].endswith("+00:00")
    assert first in result.stdout and f"{BASE.sha[:10]} → {CAND.sha[:10]}" in result.stdout
    only = run_cli("runs", "--state", "pass", "--limit", "1", "--json", str(out), cwd=tmp_path)
    assert only.returncode == 0 and [r["run_id"] for r in json.loads(out.read_text())] == [first]


def test_runs_without_a_store_is_one_line(tmp_path):
    result = run_cli("runs", "--store", str(tmp_path / "nowhere"), cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 3 and len(lines) == 1 and "no perfgate store here (--store)" in lines[0]
