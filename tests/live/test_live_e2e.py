"""Live targets end to end on loopback: two reference services at different revisions, started by
the test (not by perfgate), gated by URL; and a run that aborts on the candidate's error rate."""

from __future__ import annotations

import json
import sqlite3

import git
import pandas as pd
import pytest

from perfgate import gitops
from tests.live.services import ACCOUNTS, im_repo, services, worktree
from tests.support import assert_no_children, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_gates")]

LIVE_CONFIG = """\
[target]
version_path = "/version"

[load]
locustfile = "loadtests/im.py"
user_classes = ["ChatUser"]
users = 4
spawn_rate = 4
warmup = 1
duration = 4
credentials = "accounts.csv"

[rounds]
count = 4
max = 4

[judge]
metrics = ["p50", "cpu_per_request"]

[live]
rate = 150
max_requests = 20000
max_duration = "4m"
abort_error_rate = 0.2
allow_writes = true
"""
ENV = {"PERFGATE_IM_USERS": str(ACCOUNTS)}


def write_accounts(repo_dir, count=ACCOUNTS):
    lines = ["username,password"] + [f"user{i:04d},pass{i:04d}" for i in range(count)]
    (repo_dir / "accounts.csv").write_text("\n".join(lines) + "\n")


def run_state(repo_dir, run_id):
    with sqlite3.connect(repo_dir / ".perfgate" / "index.sqlite") as db:
        return db.execute("SELECT state FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0]


def test_two_deployments_gated_by_url_find_the_slower_login(tmp_path):
    repo_dir = tmp_path / "repo"
    repo = im_repo(repo_dir, LIVE_CONFIG, factor=8)
    write_accounts(repo_dir)
    base = worktree(repo, "HEAD~1", tmp_path / "base")
    cand = worktree(repo, "HEAD", tmp_path / "cand")
    before = gitops.worktrees(git.Repo(repo_dir))
    with services([(base, ["--version", "im-1.0"]), (cand, ["--version", "im-1.1"])], tmp_path) as (b_url, c_url):
        result = run_cli(
            "run", "--baseline-url", b_url, "--candidate-url", c_url, "--json", "verdict.json",
            "--markdown", "summary.md", cwd=repo_dir, env=ENV, timeout=300,
        )  # fmt: skip
        out = result.stdout + result.stderr
        assert result.returncode == 1, out  # a regression, whatever else (e.g. a noisy p50) stays open
    verdict = json.loads((repo_dir / "verdict.json").read_text())
    by_key = {(m["name"], m["metric"]): m for m in verdict["metrics"]}
    assert verdict["verdict"] == "regression"
    cpu = by_key[("(target)", "cpu_per_request")]  # CPU seconds read from the deployments' /metrics
    assert cpu["verdict"] == "regression" and cpu["ratio"] > 1.5, cpu  # the size from the estimate, not a CI end
    # 8x the scrypt work a login: there are too few logins a round (~20) to judge their p50 at 4 pairs,
    # but over every round the candidate's are far slower
    run_dir = repo_dir / ".perfgate" / "runs" / verdict["run_id"]
    samples = pd.concat(pd.read_parquet(p) for p in sorted((run_dir / "rounds").glob("*.samples.parquet")))
    logins = samples[(samples["name"] == "login") & samples["ok"]].groupby("side")["latency_us"].median()
    assert logins["candidate"] > 1.5 * logins["baseline"], logins
    assert "warning" not in out and list((repo_dir / "reports").glob("*.html"))
    assert verdict["baseline"]["label"] == "im-1.0" and verdict["candidate"]["label"] == "im-1.1"
    manifest = json.loads((repo_dir / ".perfgate" / "runs" / verdict["run_id"] / "manifest.json").read_text())
    assert manifest["baseline"]["url"] == b_url and manifest["baseline"]["sha"] == ""
    assert run_state(repo_dir, verdict["run_id"]) == "regression"
    summary = (repo_dir / "summary.md").read_text()
    assert f"Candidate im-1.1 “live deployment at {c_url}”" in summary, summary
    assert gitops.worktrees(git.Repo(repo_dir)) == before  # no worktree made for a live side
    # the accounts file stays out of every output: the terminal, the store, the reports
    files = [p for d in (".perfgate", "reports") for p in (repo_dir / d).rglob("*") if p.is_file()]
    outputs = [out] + [p.read_text(errors="replace") for p in files if p.suffix in (".json", ".html", ".md", ".xml")]
    for i in range(ACCOUNTS):
        assert not any(f"pass{i:04d}" in text for text in outputs), f"pass{i:04d} leaked"
    assert_no_children()


def test_a_candidate_failing_past_the_threshold_aborts_the_run_at_once(tmp_path):
    repo_dir = tmp_path / "repo"
    repo = im_repo(repo_dir, LIVE_CONFIG.replace('version_path = "/version"', ""), factor=1)
    write_accounts(repo_dir)
    base = worktree(repo, "HEAD", tmp_path / "base")
    # The candidate knows only 2 of the accounts: most of its logins fail, as a bad deployment's would.
    with services([(base, []), (base, ["--users", "2"])], tmp_path) as (b_url, c_url):
        result = run_cli(
            "run", "--baseline-url", b_url, "--candidate-url", c_url, "--baseline-label", "stable",
            "--candidate-label", "canary", "--no-reuse", cwd=repo_dir, env=ENV, timeout=300,
        )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "abort_error_rate" in out and "candidate" in out, out
    assert "Traceback" not in out
    runs = list((repo_dir / ".perfgate" / "runs").iterdir())
    assert len(runs) == 1 and run_state(repo_dir, runs[0].name) == "aborted"
    rounds = sorted((runs[0] / "rounds").glob("*.json"))
    assert len(rounds) == 1, "nothing more is sent after the abort"
    record = json.loads(rounds[0].read_text())
    assert record["invalid_reason"].startswith("aborted: ")
    assert (record["ended_ns"] - record["started_ns"]) / 1e9 < 4.0  # stopped well before warm-up + duration
    assert_no_children()


def test_rate_and_request_cap_hold_and_rounds_that_no_longer_fit_are_not_run(tmp_path):
    config = LIVE_CONFIG.replace("rate = 150", "rate = 10").replace("max_requests = 20000", "max_requests = 150")
    repo_dir = tmp_path / "repo"
    repo = im_repo(repo_dir, config.replace('version_path = "/version"', ""), factor=1)
    write_accounts(repo_dir)
    base = worktree(repo, "HEAD", tmp_path / "base")
    with services([(base, []), (base, [])], tmp_path) as (b_url, c_url):
        result = run_cli(
            "run", "--baseline-url", b_url, "--candidate-url", c_url, "--json", "verdict.json",
            cwd=repo_dir, env=ENV, timeout=300,
        )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 2, out  # 2 pairs fit in the cap: inconclusive, never a regression
    verdict = json.loads((repo_dir / "verdict.json").read_text())
    assert any("no more rounds were run: [live] max_requests (150)" in note for note in verdict["notes"]), verdict
    run_dir = repo_dir / ".perfgate" / "runs" / verdict["run_id"]
    samples = pd.concat(pd.read_parquet(p) for p in sorted((run_dir / "rounds").glob("*.samples.parquet")))
    http = samples[samples["type"].isin(["GET", "POST"])]
    assert len(list((run_dir / "rounds").glob("*.json"))) == 2
    for side, rows in http.groupby("side"):
        assert len(rows) <= 150, side  # the cap, over the whole run
        for _, one_round in rows.groupby(rows["t_ns"] // 10**9 // 6):  # never near 150/s: the bucket holds 10/s
            span_s = (one_round["t_ns"].max() - one_round["t_ns"].min()) / 1e9
            assert len(one_round) <= 10 * span_s + 2, (side, len(one_round), span_s)
    assert_no_children()
