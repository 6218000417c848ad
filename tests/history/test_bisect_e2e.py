"""Bisect on a real 4-commit repository of the IM service; the 3rd commit makes logins 4x as expensive.

After BAD is confirmed, four commits still give both kinds of step: a midpoint that passes and
one that regresses."""

from __future__ import annotations

import json

import pytest

from tests.history.imrepo import build_im_repo
from tests.support import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_gates")]  # see pyproject [tool.pytest.ini_options]

#: 2 planned pairs, a budget of 8 (looks at 2, 5 and 8 pairs): no step can be decided on fewer than
#: 3 pairs, so every step is inconclusive at its first look and has to buy pairs instead of guessing.
#: The margin is wide against the noise of a busy CI machine (an unchanged commit's login p50 read
#: +14% [-10%, +34%] after 8 pairs there) and still far below the regression (+900%).
ARGS = ("--metric", "login.p50", "--margin", "1.0", "--rounds", "2", "--max-rounds", "8")


def test_bisect_finds_the_regression_and_a_second_bisect_measures_nothing(tmp_path):
    repo_dir = tmp_path / "im"
    shas = build_im_repo(repo_dir, commits=4, regress_at=2)
    first = tmp_path / "first.json"
    result = run_cli("bisect", "HEAD~3", "HEAD", *ARGS, "--json", str(first), cwd=repo_dir, env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(first.read_text())
    assert data["first_bad"]["sha"] == shas[2], result.stdout
    assert data["last_good"]["sha"] == shas[1]
    assert f"first bad commit: {shas[2][:10]}" in result.stdout
    steps = data["steps"]
    assert steps[0]["commit"]["sha"] == shas[-1] and steps[0]["verdict"] == "regression"  # BAD is confirmed first
    assert {s["verdict"] for s in steps} == {"regression", "pass"}
    assert data["gates"] == sum(s["gates"] for s in steps)
    assert all(s["gates"] >= 2 and s["pairs"] >= 4 for s in steps)  # every step bought pairs after its first look
    bad = next(s for s in steps if s["commit"]["sha"] == shas[2])
    assert bad["evidence"][0]["name"] == "login" and bad["evidence"][0]["ci_low"] > 2.0
    print(f"\nbisect over 4 commits: {data['gates']} gates, {len(steps)} steps, wall {data['wall_s']:.1f} s")

    second = tmp_path / "second.json"
    result = run_cli("bisect", "HEAD~3", "HEAD", *ARGS, "--json", str(second), cwd=repo_dir, env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    again = json.loads(second.read_text())
    assert again["gates"] == 0 and again["first_bad"]["sha"] == shas[2]
    assert [s["verdict"] for s in again["steps"]] == [s["verdict"] for s in steps]
    assert "decided from the store" in result.stdout
    print(f"second bisect: {again['gates']} gates, wall {again['wall_s']:.1f} s")


def test_bisect_input_errors(tmp_path):
    repo_dir = tmp_path / "im"
    build_im_repo(repo_dir, commits=3, regress_at=2)
    for args, needle in (
        (("HEAD", "HEAD~2"), "not an ancestor"),
        (("HEAD~2", "HEAD", "--metric", "login.p97"), "--metric"),
        (("HEAD", "HEAD"), "same commit"),
        (("nope", "HEAD"), "unknown revision"),
    ):
        result = run_cli("bisect", *args, cwd=repo_dir)
        assert result.returncode == 3, result.stdout + result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("perfgate: error:") and needle in last and "Traceback" not in result.stderr
    assert not (repo_dir / ".perfgate" / "runs").exists() or not any((repo_dir / ".perfgate" / "runs").iterdir())
