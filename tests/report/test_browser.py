"""The report in a real browser: Debian's Chromium driven by Playwright, never a downloaded one.

Outside CI a missing Chromium skips with a message; under ``CI=true`` it fails.
The screenshot goes to ``reports/screenshots/`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest

from perfgate.formatting import verdict_text
from perfgate.report import write_reports
from tests.report.report_synth import HOSTILE, SynthSpec, build_run
from tests.support import unavailable

pytestmark = pytest.mark.e2e  # real Chromium

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"


def _unavailable(reason: str) -> NoReturn:
    unavailable(reason, "apt-get install chromium", "browser")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    if not CHROMIUM.is_file():
        _unavailable(f"{CHROMIUM} is missing")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        yield browser
        browser.close()


def _open(browser, html: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("request", lambda request: requests.append(request.url))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}") or dialog.dismiss())
    page.goto(html.as_uri(), wait_until="load")
    return page, problems, requests


def _column(page, table: str, column: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr:not([hidden])",
        f"rows => rows.map(r => r.cells[{column}].getAttribute('data-sort') ?? r.cells[{column}].textContent)",
    )


def test_report_renders_sorts_and_filters(browser, tmp_path):
    store, run_id, verdict = build_run(tmp_path / "store", SynthSpec(per_side=4000))
    paths = write_reports(store, run_id, tmp_path / "out")
    page, problems, requests = _open(browser, paths.html)

    banner = page.locator("#verdict")
    assert banner.is_visible()
    assert banner.locator(".banner-state").inner_text().strip() == "REGRESSION"
    assert verdict_text(verdict) in banner.inner_text()
    top = banner.bounding_box()
    assert top["y"] == 0 and top["height"] < 200  # the first thing on screen

    table = "scenario-1-table"
    assert page.locator(f"#{table} tbody tr").count() == len(verdict.metrics)
    assert page.locator("svg.plot").count() >= 3

    # sort by change: ascending, then descending on a second click
    change = page.locator(f"#{table} thead th", has_text="change").first
    change.click()
    values = [float(v) for v in _column(page, table, 4) if v]
    assert values == sorted(values)
    assert change.get_attribute("aria-sort") == "ascending"
    change.click()
    values = [float(v) for v in _column(page, table, 4) if v]
    assert values == sorted(values, reverse=True)
    # sort by request name
    page.locator(f"#{table} thead th", has_text="request").click()
    names = [n.strip().lower() for n in _column(page, table, 0)]
    assert names == sorted(names)

    # filter by text, then by verdict
    page.fill(f'.filter-text[data-table="{table}"]', "history")
    assert set(_column(page, table, 0)) == {"history"}
    page.fill(f'.filter-text[data-table="{table}"]', "")
    page.select_option(f'.filter-verdict[data-table="{table}"]', "regression")
    shown = page.eval_on_selector_all(f"#{table} tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.verdict)")
    assert shown and set(shown) == {"regression"}
    assert page.locator(f'.filter-count[data-table="{table}"]').inner_text().startswith(f"{len(shown)} of")
    page.select_option(f'.filter-verdict[data-table="{table}"]', "")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "report-top.png"))
    page.screenshot(path=str(SCREENSHOTS / "report-full.png"), full_page=True)
    page.close()
    assert problems == []
    assert requests == [paths.html.as_uri()]  # nothing fetched: self-contained


def test_hostile_strings_stay_inert_in_the_browser(browser, tmp_path):
    spec = SynthSpec(
        per_side=1000,
        names=("login", HOSTILE),
        regressed={HOSTILE: 1.3},
        subject=HOSTILE,
        author=HOSTILE,
        error_text=HOSTILE,
        extra=HOSTILE,
        planned_pairs=3,
        confirmation_pairs=0,
        invalid_round=None,
    )
    store, run_id, _ = build_run(tmp_path / "store", spec)
    paths = write_reports(store, run_id, tmp_path / "out")
    page, problems, requests = _open(browser, paths.html)
    assert page.evaluate("document.querySelectorAll('script').length") == 1
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert HOSTILE in page.locator("#context").inner_text()  # shown as text
    page.close()
    assert problems == []  # no alert() dialog, no CSP violation, no error
    assert requests == [paths.html.as_uri()]


def test_content_security_policy_blocks_an_injected_script(browser, small_run, tmp_path):
    """Defence in depth: were a string ever to escape escaping, the page's CSP would not run it."""
    store, run_id, _, _ = small_run
    html = write_reports(store, run_id, tmp_path).html
    text = html.read_text(encoding="utf-8")
    html.write_text(text.replace("<main>", "<main><script>window.injected = 1</script>", 1), encoding="utf-8")
    page, problems, _ = _open(browser, html)
    assert page.evaluate("window.injected") is None
    assert any("Content Security Policy" in p for p in problems), problems
    # our own script (allowed by its hash) still ran: the filter count is filled in
    assert page.locator(".filter-count").first.inner_text().endswith("rows")
    page.close()
