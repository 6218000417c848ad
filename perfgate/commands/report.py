"""``perfgate report RUN``: render a stored run's reports again, from the store alone."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from perfgate.commands._common import store_and_reports
from perfgate.outcome import Outcome
from perfgate.store import open_existing_store
from perfgate.store.query import latest_judged

if TYPE_CHECKING:
    from perfgate.report import ReportPaths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run", metavar="RUN", help="run id, unique prefix of one, or 'latest' (the latest run with a verdict)"
    )
    parser.add_argument(
        "--store", type=str, help="the store (default: [store] path of the config here, else .perfgate)"
    )
    parser.add_argument("--config", type=Path, help="config for the default store and report folder")
    parser.add_argument("--out", type=Path, help="folder for the HTML report (default: [report] dir, else reports)")
    parser.add_argument("--markdown", type=Path, help="write a markdown summary for a PR comment")
    parser.add_argument("--junit", type=Path, help="write JUnit XML, one test case per metric")
    parser.add_argument("--json", type=Path, dest="json_path", help="write the verdict as JSON")
    parser.add_argument("--artifact-url", help="where the HTML report will be published (linked from the markdown)")


def report(
    run: str,
    store_dir: Path | str,
    out_dir: Path,
    *,
    markdown: Path | None = None,
    junit: Path | None = None,
    json_path: Path | None = None,
    artifact_url: str | None = None,
) -> ReportPaths:
    """Resolve ``run`` in the store at ``store_dir`` and write its reports."""
    store = open_existing_store(store_dir)
    run_id = latest_judged(store) if run == "latest" else store.resolve(run)  # a failed run has no report
    from perfgate.report import write_reports  # matplotlib: imported once there is a run to render

    return write_reports(
        store, run_id, out_dir, markdown=markdown, junit=junit, json_path=json_path, artifact_url=artifact_url
    )


def run(args: argparse.Namespace, console: Console) -> Outcome:
    store_dir, out_dir = store_and_reports(args)
    paths = report(
        args.run,
        store_dir,
        out_dir,
        markdown=args.markdown,
        junit=args.junit,
        json_path=args.json_path,
        artifact_url=args.artifact_url,
    )
    for label, path in (
        ("report", paths.html),
        ("markdown", paths.markdown),
        ("junit", paths.junit),
        ("json", paths.json),
    ):
        if path is not None:
            console.print(f"{label}: {path}", markup=False, highlight=False)
    return Outcome.OK
