"""`perfgate ci`: revisions from GitHub Actions' environment or flags, the four outputs, the shipped workflow."""

from __future__ import annotations

import json
import re
from pathlib import Path

import git
import pytest
import yaml

from perfgate.commands.ci import ci_revisions
from perfgate.errors import ConfigError, RevisionError
from tests.history.gitrun import git_run
from tests.history.imrepo import TINY, build_im_repo
from tests.support import run_cli

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "infra" / "ci" / "perfgate.yml"


def commit(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git_run(repo, "add", name)
    git_run(repo, "commit", "-qm", message)
    return git.Repo(repo).head.commit.hexsha


@pytest.fixture
def pr_repo(tmp_path):
    """origin/main: c0 c1 c4; the PR branch feature: c1 → c2 → c3 (forked before c4)."""
    bare, work = tmp_path / "origin.git", tmp_path / "work"
    git_run(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git_run(tmp_path, "clone", "-q", str(bare), str(work))
    (work / "perfgate.toml").write_text(TINY)
    shas = {"c0": commit(work, "f", "0", "c0"), "c1": commit(work, "f", "1", "c1")}
    git_run(work, "push", "-q", "origin", "HEAD:main")
    git_run(work, "checkout", "-qb", "feature")
    shas["c2"] = commit(work, "g", "2", "c2")
    shas["c3"] = commit(work, "g", "3", "c3")
    git_run(work, "push", "-q", "origin", "feature")
    git_run(work, "checkout", "-q", "main")
    shas["c4"] = commit(work, "f", "4", "c4")
    git_run(work, "push", "-q", "origin", "main")
    git_run(work, "checkout", "-q", shas["c2"])  # like actions/checkout: not the branch tip itself
    return git.Repo(work), shas


def test_baseline_is_the_merge_base_with_the_target_branch(pr_repo):
    repo, shas = pr_repo
    env = {"GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "feature"}
    picked = ci_revisions(repo, base=None, head=None, target=None, remote="origin", environ=env)
    assert (picked.baseline, picked.candidate) == (shas["c1"], shas["c3"])  # not c4, which main gained since


def test_the_event_payload_names_the_head(pr_repo, tmp_path):
    repo, shas = pr_repo
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"pull_request": {"head": {"sha": shas["c2"], "ref": "feature"}, "base": {"ref": "main"}}})
    )
    env = {"GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "feature", "GITHUB_EVENT_PATH": str(event)}
    picked = ci_revisions(repo, base=None, head=None, target=None, remote="origin", environ=env)
    assert (picked.baseline, picked.candidate) == (shas["c1"], shas["c2"])


def test_flags_win_over_the_environment(pr_repo):
    repo, shas = pr_repo
    env = {"GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "feature"}
    picked = ci_revisions(repo, base=shas["c0"], head=shas["c3"], target=None, remote="origin", environ=env)
    assert (picked.baseline, picked.candidate) == (shas["c0"], shas["c3"])
    picked = ci_revisions(repo, base=None, head="HEAD", target="main", remote="origin", environ={})
    assert (picked.baseline, picked.candidate) == (shas["c1"], shas["c2"])


def test_missing_baseline_information_is_an_error(pr_repo, tmp_path):
    repo, _ = pr_repo
    with pytest.raises(ConfigError, match="no baseline"):
        ci_revisions(repo, base=None, head=None, target=None, remote="origin", environ={})
    with pytest.raises(RevisionError, match="target branch 'release' not found"):
        ci_revisions(repo, base=None, head=None, target="release", remote="origin", environ={})
    bad_event = tmp_path / "event.json"
    bad_event.write_text("{not json")
    with pytest.raises(ConfigError, match="GITHUB_EVENT_PATH"):
        ci_revisions(
            repo, base=None, head=None, target="main", remote="origin", environ={"GITHUB_EVENT_PATH": str(bad_event)}
        )
    work = Path(repo.working_tree_dir)
    result = run_cli(
        "ci",
        "--out",
        str(tmp_path / "out"),
        cwd=work,
        env={"GITHUB_BASE_REF": "", "GITHUB_HEAD_REF": "", "GITHUB_EVENT_PATH": ""},
    )
    assert result.returncode == 3, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("perfgate: error:") and "no baseline" in last and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_workflow_file_is_valid_and_complete():
    text = WORKFLOW.read_text()
    assert "\t" not in text
    flow = yaml.safe_load(text)
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    assert flow["permissions"] == {"contents": "read", "pull-requests": "write"}
    steps = flow["jobs"]["gate"]["steps"]
    uses = {s.get("uses", "").split("@")[0]: s for s in steps}
    assert uses["actions/checkout"]["with"]["fetch-depth"] == 0
    assert "pip install" not in text  # the action installs perfgate from its own pinned revision
    gate = uses["perfgate/perfgate"]  # the reusable action (action.yml), pinned to a commit
    assert re.fullmatch(r"perfgate/perfgate@[0-9a-f]{40}", gate["uses"])
    assert gate["with"]["comment"] == "true"


@pytest.mark.e2e
@pytest.mark.xdist_group("tiny_gates")  # see pyproject [tool.pytest.ini_options]
def test_ci_gates_a_pull_request_and_writes_the_four_outputs(tmp_path):
    work = tmp_path / "im"
    main, feature = build_im_repo(work, commits=2, regress_at=1)
    bare = tmp_path / "origin.git"
    git_run(tmp_path, "init", "-q", "--bare", str(bare))
    git_run(work, "remote", "add", "origin", str(bare))
    git_run(work, "push", "-q", "origin", f"{main}:refs/heads/main", f"{feature}:refs/heads/feature")
    git_run(work, "fetch", "-q", "origin")
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"pull_request": {"number": 7, "head": {"sha": feature, "ref": "feature"}, "base": {"ref": "main"}}})
    )
    outputs, summary = tmp_path / "github_output", tmp_path / "step_summary"
    env = {
        "GITHUB_BASE_REF": "main",
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ACTIONS": "true",
    }
    out = tmp_path / "perfgate-report"
    result = run_cli("ci", "--out", str(out), cwd=work, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "baseline = merge-base with main" in result.stderr
    assert "::error title=perfgate regression%3A" in result.stdout  # the regressed metrics, annotated
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["verdict"] == "regression"
    assert (verdict["baseline"]["sha"], verdict["candidate"]["sha"]) == (main, feature)
    assert (out / "report.html").is_file() and (out / f"{verdict['run_id']}.html").is_file()
    assert "<testsuite" in (out / "junit.xml").read_text()
    markdown = (out / "summary.md").read_text()
    assert "regression" in markdown
    assert markdown.strip() in summary.read_text()
    lines = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert lines["verdict"] == "regression" and lines["exit-code"] == "1" and lines["run-id"] == verdict["run_id"]
