"""perfgate gates a real XMPP server it did not write: Prosody, from examples/prosody, end to end.

The costly commit turns on message archiving (mod_mam with Prosody's internal file storage:
every chat message appended to the sender's and the receiver's archive files). The A/A pair
differs in a comment only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import git
import pytest

from tests.support import AUTHOR, assert_no_children, run_cli
from tests.xmpp.prosody_fixture import EXAMPLE, require_prosody

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_gates")]

ARCHIVING = """\t"ping";
\t"mam";                         -- XEP-0313: every chat message archived, for sender and receiver
}
default_archive_policy = true      -- archive every conversation
archive_expires_after = "never\""""


def prosody_repo(path: Path, change: str) -> git.Repo:
    """The example as a user's repository, then one commit: "archive" or "comment"."""
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    (path / ".gitignore").write_text(".perfgate/\nreports/\n__pycache__/\n")
    repo = git.Repo.init(path)
    repo.git.add(A=True)
    repo.index.commit("prosody", author=AUTHOR, committer=AUTHOR)
    config = path / "prosody.cfg.lua"
    text = config.read_text()
    if change == "archive":
        assert '\t"ping";\n}' in text
        config.write_text(text.replace('\t"ping";\n}', ARCHIVING, 1))
        message = "prosody: archive every message (mod_mam, internal storage)"
    else:
        config.write_text("-- Reviewed: no change in behaviour.\n" + text)
        message = "prosody: a comment"
    repo.git.add(A=True)
    repo.index.commit(message, author=AUTHOR, committer=AUTHOR)
    return repo


def gate(path: Path, max_rounds: int) -> tuple[int, dict]:
    args = ("--baseline", "HEAD~1", "--candidate", "HEAD", "--rounds", "3", "--max-rounds", str(max_rounds))
    result = run_cli("run", *args, "--json", "verdict.json", cwd=path)
    assert result.returncode in (0, 1, 2), result.stdout + result.stderr
    return result.returncode, json.loads((path / "verdict.json").read_text())


def test_archiving_every_message_is_a_regression(tmp_path):
    require_prosody()
    prosody_repo(tmp_path, "archive")
    code, verdict = gate(tmp_path, max_rounds=3)
    by_key = {(m["name"], m["metric"]): m for m in verdict["metrics"]}
    cpu = by_key[("(target)", "cpu_per_request")]
    assert code == 1 and verdict["reason"].startswith("regression"), verdict["reason"]
    # the gate's own decision, then the size: +40-58% measured; with 3 pairs the CI's lower end
    # swings (+4.9% once in CI), the point estimate does not
    assert cpu["verdict"] == "regression" and cpu["ratio"] > 1.15, cpu["reason"]
    for step in ("connect", "auth", "bind", "roster", "presence", "send", "deliver"):  # every step was judged
        assert by_key[(step, "error_rate")]["verdict"] != "regression", by_key[(step, "error_rate")]["reason"]
    assert_no_children()


def test_a_comment_is_not_a_regression(tmp_path):
    require_prosody()
    prosody_repo(tmp_path, "comment")
    code, verdict = gate(tmp_path, max_rounds=4)
    assert code in (0, 2) and verdict["verdict"] != "regression", verdict["reason"]
    assert not [m for m in verdict["metrics"] if m["verdict"] == "regression"]
    assert_no_children()
