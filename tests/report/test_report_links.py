"""Reports link both commits and the compare view when the repository is on GitHub."""

from perfgate.formatting import commit_links
from perfgate.model import Revision
from perfgate.report import write_reports
from tests.report.report_synth import SynthSpec, build_run

BASE, CAND = Revision("main", "a" * 40), Revision("HEAD", "b" * 40)
REPO = "https://github.com/acme/chat"


def test_links_for_a_github_repository() -> None:
    assert commit_links(REPO, BASE, CAND) == {
        "baseline": f"{REPO}/commit/{'a' * 40}",
        "candidate": f"{REPO}/commit/{'b' * 40}",
        "compare": f"{REPO}/compare/{'a' * 40}...{'b' * 40}",
    }


def test_no_link_where_there_is_nothing_to_link() -> None:
    dirty = Revision("WORKTREE", "b" * 40, dirty=True)
    assert commit_links(REPO, BASE, dirty) == {"baseline": f"{REPO}/commit/{'a' * 40}"}  # no commit has the edits
    assert "compare" not in commit_links(REPO, BASE, BASE)  # A/A: nothing to compare
    assert commit_links("", BASE, CAND) == {}
    for hostile in ("javascript:alert(1)//github.com/a/b", 'https://github.com/a/b"><script>', "http://github.com/a/b"):
        assert commit_links(hostile, BASE, CAND) == {}
    assert commit_links(REPO, Revision("x", "../../evil"), CAND) == {"candidate": f"{REPO}/commit/{'b' * 40}"}


def test_the_html_and_markdown_link_the_commits(tmp_path) -> None:
    store, run_id, _ = build_run(tmp_path / "store", SynthSpec(per_side=200, repository_url=REPO))
    paths = write_reports(store, run_id, tmp_path / "out", markdown=tmp_path / "summary.md")
    html = paths.html.read_text()
    compare = f"{REPO}/compare/{'a' * 40}...{'b' * 40}"
    assert f'<a href="{compare}">compare</a>' in html and f'href="{REPO}/commit/{"b" * 40}"' in html
    markdown = (tmp_path / "summary.md").read_text()
    assert f"[compare]({compare})" in markdown and f"[`bbbbbbbbbb`]({REPO}/commit/{'b' * 40})" in markdown


def test_a_store_without_a_repository_page_renders_no_link(tmp_path) -> None:
    store, run_id, _ = build_run(tmp_path / "store", SynthSpec(per_side=200))
    paths = write_reports(store, run_id, tmp_path / "out", markdown=tmp_path / "summary.md")
    assert "/commit/" not in paths.html.read_text() and "/commit/" not in (tmp_path / "summary.md").read_text()
