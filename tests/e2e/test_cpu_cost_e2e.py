"""The CPU-cost metric catches a CPU regression that latency cannot see: +60% signing CPU in an
endpoint whose latency is a 45 ms downstream wait, in a small threaded service (not the IM one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import git
import pytest

from tests.support import AUTHOR, assert_no_children, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_gates")]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quotes"


def quote_repo(path: Path) -> git.Repo:
    """The example as a user's repository, its own perfgate.toml included, and a +60% CPU commit."""
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    (path / ".gitignore").write_text(".perfgate/\nreports/\n__pycache__/\n")
    repo = git.Repo.init(path)
    repo.git.add(A=True)
    repo.index.commit("quote service", author=AUTHOR, committer=AUTHOR)
    service = path / "service.py"
    service.write_text(service.read_text().replace("SIGN_ROUNDS = 4000", "SIGN_ROUNDS = 6400"))
    repo.git.add(A=True)
    repo.index.commit("quotes: sign with 60% more PBKDF2 rounds", author=AUTHOR, committer=AUTHOR)
    return repo


def test_cpu_cost_flags_a_cpu_regression_hidden_under_a_fixed_wait(tmp_path):
    quote_repo(tmp_path)
    result = run_cli("run", "--baseline", "HEAD~1", "--candidate", "HEAD", "--json", "verdict.json", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    by_key = {(m["name"], m["metric"]): m for m in verdict["metrics"]}
    cpu = by_key[("(target)", "cpu_per_request")]
    assert cpu["verdict"] == "regression", cpu["reason"]
    assert cpu["ratio"] > 1.15 and cpu["ci_low"] > 1.02, cpu["reason"]
    assert "/quote" in cpu["reason"] and "ms" in cpu["reason"]  # the endpoints' latency deltas beside it
    quote_p50 = by_key[("/quote", "p50")]
    assert quote_p50["ratio"] < 1.10, quote_p50["reason"]  # the wait hides it from latency
    assert verdict["reason"].startswith("regression")
    assert_no_children()
