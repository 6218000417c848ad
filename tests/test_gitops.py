import subprocess
import sys

import pytest

from perfgate import gitops
from perfgate.errors import RevisionError


def test_resolve_and_checkout(tmp_repo, tmp_path):
    repo = tmp_repo([{"a.txt": "one", "message": "first <b>"}, {"a.txt": "two", "message": "second"}])
    base = gitops.resolve(repo, "HEAD~1")
    assert base.subject == "first <b>" and base.author == "Test Author <test@example.invalid>"
    head = gitops.resolve(repo, "HEAD")
    assert head.sha == repo.head.commit.hexsha and not head.dirty
    with gitops.checkout(repo, base, tmp_path / "wt") as path:
        assert (path / "a.txt").read_text() == "one"
        assert gitops.worktrees(repo) == [path]
    assert gitops.worktrees(repo) == []
    assert not (tmp_path / "wt").exists()


def test_worktree_means_the_working_tree_with_its_changes(tmp_repo, tmp_path):
    repo = tmp_repo([{"a.txt": "one"}])
    (tmp_path / "repo" / "a.txt").write_text("edited")
    rev = gitops.resolve(repo, gitops.WORKTREE)
    assert rev.dirty and rev.sha == repo.head.commit.hexsha and rev.short.endswith("+dirty")
    with gitops.checkout(repo, rev, tmp_path / "unused") as path:
        assert (path / "a.txt").read_text() == "edited"


def test_worktree_is_removed_on_error(tmp_repo, tmp_path):
    repo = tmp_repo([{"a.txt": "one"}])
    with pytest.raises(ZeroDivisionError), gitops.checkout(repo, gitops.resolve(repo, "HEAD"), tmp_path / "wt"):
        raise ZeroDivisionError
    assert gitops.worktrees(repo) == []


def test_unknown_revision_and_not_a_repo(tmp_repo, tmp_path):
    repo = tmp_repo([{"a.txt": "one"}])
    with pytest.raises(RevisionError, match="unknown revision 'nope'"):
        gitops.resolve(repo, "nope")
    with pytest.raises(RevisionError, match="unknown revision 'HEAD~1'"):
        gitops.resolve(repo, "HEAD~1")
    with pytest.raises(RevisionError, match="not inside a git repository"):
        gitops.open_repo(tmp_path / "elsewhere")


@pytest.mark.parametrize(
    "remote, page",
    [
        ("https://github.com/acme/chat.git", "https://github.com/acme/chat"),
        ("git@github.com:acme/chat.git", "https://github.com/acme/chat"),
        ("ssh://git@github.com/acme/chat", "https://github.com/acme/chat"),
        ("https://x-access-token:secret@github.com/acme/chat", "https://github.com/acme/chat"),
        ("https://gitlab.com/acme/chat.git", ""),
        ("/srv/git/chat.git", ""),
    ],
)
def test_web_url_is_the_github_page_of_origin(tmp_repo, monkeypatch, remote, page):
    monkeypatch.delenv("GITHUB_SERVER_URL", raising=False)
    repo = tmp_repo([{"a.txt": "one"}])
    assert gitops.web_url(repo) == ""  # no origin
    repo.create_remote("origin", remote)
    assert gitops.web_url(repo) == page


def test_web_url_in_github_actions_is_the_servers(tmp_repo, monkeypatch):
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/chat")
    assert gitops.web_url(tmp_repo([{"a.txt": "one"}])) == "https://github.example.com/acme/chat"


CHECKOUTS = """
import sys
from pathlib import Path
import git
from perfgate import gitops

repo, scratch = git.Repo(sys.argv[1]), Path(sys.argv[2])
revision = gitops.resolve(repo, "HEAD")
for n in range(20):
    with gitops.checkout(repo, revision, scratch / f"wt{n}"):
        pass
"""


def test_checkouts_of_several_processes_at_once_do_not_trip_over_each_other(tmp_repo, tmp_path):
    # two gates or backfills on one repository add and prune worktrees side by side
    repo = tmp_repo([{"a.txt": "one"}])
    script = tmp_path / "checkouts.py"
    script.write_text(CHECKOUTS)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "repo"), str(tmp_path / f"p{i}")],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], "\n".join(errors)
    assert gitops.worktrees(repo) == []
