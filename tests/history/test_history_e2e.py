"""Backfill (interrupted, resumed, two at once), history with its change point, flaky, on a real
5-commit repository of the IM service whose 3rd commit makes every login 4x as expensive."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import git
import pytest

from perfgate import gitops
from perfgate.store import LocalStore
from tests.history.gitrun import wait_for
from tests.history.imrepo import build_im_repo
from tests.support import assert_no_children, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_gates")]  # see pyproject [tool.pytest.ini_options]


def backfill(repo: Path, rev_range: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "perfgate.cli", "backfill", rev_range],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(proc: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C; a second one if the first landed where Python drops it (e.g. in a fork handler)."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=120)


def test_backfill_history_and_flaky(tmp_path):
    repo_dir = tmp_path / "im"
    shas = build_im_repo(repo_dir, commits=5, regress_at=2)
    store = LocalStore(repo_dir / ".perfgate")

    # 1. interrupted in its second gate: exit 130, nothing left running, the first commit stays stored
    first = backfill(repo_dir, "HEAD~4..HEAD")
    wait_for(lambda: len(store.list_runs()) >= 2 and len(store.rounds(store.list_runs()[1].run_id)) >= 1, timeout=600)
    out, err = interrupt(first)
    assert first.returncode == 130, out + err
    assert f"{shas[1][:10]} docs: note 1:" in out
    assert_no_children()
    assert gitops.worktrees(git.Repo(repo_dir)) == []
    assert store.list_runs()[-1].state == "interrupted"

    # 2. resumed by two backfills at once (two gates writing the same store), each skipping what is stored
    older, newer = backfill(repo_dir, "HEAD~4..HEAD~1"), backfill(repo_dir, "HEAD~1..HEAD")
    (out_old, err_old), (out_new, err_new) = older.communicate(timeout=900), newer.communicate(timeout=900)
    assert older.returncode == 0 and newer.returncode == 0, err_old + err_new
    assert f"{shas[1][:10]} docs: note 1: already stored, skipped" in out_old
    assert "backfill: 3 commits," in out_old and "backfill: 1 commits, 1 measured" in out_new
    # (which of the two measured c3 is a race: the newer one measures it as its baseline)
    key = (store.list_runs()[0].config_hash, store.list_runs()[0].fingerprint)
    for sha in shas[1:]:
        assert len({(run, idx) for run, idx, _ in store.find_rounds(sha, "chat", *key)}) >= 3
    runs = store.list_runs()
    assert [r.state for r in runs].count("interrupted") == 1
    assert all(r.state in ("pass", "regression", "inconclusive", "interrupted") for r in runs)
    for row in runs:  # the SQLite index and the files agree after concurrent writers
        rounds = store.rounds(row.run_id)
        indexed = {
            (run, idx)
            for sha in (row.baseline, row.candidate)
            for run, idx, _ in store.find_rounds(sha, "chat", row.config_hash, row.fingerprint)
            if run == row.run_id
        }
        assert indexed == {(row.run_id, r.index) for r in rounds if r.valid}

    # 3. a third backfill measures nothing
    again = run_cli("backfill", "HEAD~4..HEAD", cwd=repo_dir)
    assert again.returncode == 0 and "4 commits, 0 measured, 4 already stored" in again.stdout, again.stdout

    # history names the commit where login's level shifted
    page = tmp_path / "trend" / "history.html"
    result = run_cli(
        "history", "HEAD~4..HEAD", "--metric", "p50", "--html", str(page), cwd=repo_dir, env={"COLUMNS": "200"}
    )
    assert result.returncode == 0, result.stderr
    changes = re.findall(r"(\S+) \(chat\) p50: ([0-9a-f]{10}) ", result.stdout)
    assert ("login", shas[2][:10]) in changes, result.stdout
    assert all(sha == shas[2][:10] for name, sha in changes if name == "login")
    html = page.read_text()
    assert "Content-Security-Policy" in html and "<script" not in html
    links = set(re.findall(r'href="([^"#]+\.html)"', html))
    assert links and all((page.parent / link).resolve().is_file() for link in links)
    assert shas[2][:10] in html

    # flaky: per-metric noise and the pairs needed, from the stored runs
    report = tmp_path / "flaky.json"
    result = run_cli("flaky", "--json", str(report), cwd=repo_dir, env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    # every complete run counts: 4, or 3 when the newer backfill stored c3 (as its baseline) before the
    # older one reached it, which then skips c3 (the race noted above; the measurement lock decides it)
    complete = [r for r in store.list_runs() if r.state in ("pass", "regression", "inconclusive")]
    assert data["runs"] == len(complete) and len(complete) in (3, 4) and data["budget"] == 3
    login = next(m for m in data["metrics"] if (m["name"], m["metric"]) == ("login", "p50"))
    verdicts = [store.verdict(r.run_id) for r in store.list_runs() if r.state != "interrupted"]
    judged = [v for v in verdicts if any((m["name"], m["metric"]) == ("login", "p50") for m in v["metrics"])]
    for v in verdicts:  # a gate on a loaded machine may log in too rarely to judge a p50, and says so
        assert v in judged or any(n.startswith("login (chat):") and "not judged" in n for n in v["notes"]), v["notes"]
    assert login["verdicts"] == len(judged) >= 2 and login["sigma"] is not None and login["pairs"] >= 6
    assert login["rounds_needed"] is not None and isinstance(login["gateable"], bool)
    assert login["margin_needed"] > 0
    assert "pairs needed" in result.stdout

    # bad input: one line, exit 3
    bad = run_cli("backfill", "nope..HEAD", cwd=repo_dir)
    assert bad.returncode == 3 and "bad revision range" in bad.stderr and "Traceback" not in bad.stderr
