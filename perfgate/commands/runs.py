"""``perfgate runs``: list the stored runs, newest first."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from perfgate.commands._args import check_option
from perfgate.commands._common import store_and_reports
from perfgate.model import RunRow
from perfgate.outcome import Outcome
from perfgate.store import open_existing_store

STATES = ("running", "pass", "regression", "inconclusive", "error", "interrupted")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=str, help="the store (default: [store] path of the config here, else .perfgate)"
    )
    parser.add_argument("--config", type=Path, help="config for the default store")
    parser.add_argument("--state", choices=STATES, help="only runs in this state")
    parser.add_argument("--limit", type=int, default=20, help="the newest N runs (default: 20; 0: all)")
    parser.add_argument("--json", type=Path, dest="json_path", help="write the listed runs as JSON")


def list_runs(store_location: Path | str, state: str | None = None, limit: int = 0) -> list[RunRow]:
    """The store's runs in ``state`` (all without one), newest first, the newest ``limit`` (0: all)."""
    rows = [r for r in open_existing_store(store_location).list_runs() if state is None or r.state == state]
    return rows[::-1][:limit] if limit else rows[::-1]


def created_utc(row: RunRow) -> str:
    """When the run was created, ISO 8601 in UTC to the second."""
    return datetime.fromtimestamp(row.created, UTC).isoformat(timespec="seconds")


def run(args: argparse.Namespace, console: Console) -> Outcome:
    check_option("--limit", args.limit, low=0)
    store_location, _ = store_and_reports(args)
    rows = list_runs(store_location, args.state, args.limit)
    if args.json_path is not None:
        listed = [{**asdict(r), "created": created_utc(r)} for r in rows]
        args.json_path.write_text(json.dumps(listed, indent=2) + "\n")
    table = Table(box=None, pad_edge=False)
    for column in ("run", "created (UTC)", "kind", "state", "baseline → candidate"):
        table.add_column(column, overflow="fold")
    for r in rows:
        shas = f"{r.baseline[:10]} → {r.candidate[:10]}"
        table.add_row(r.run_id, created_utc(r).replace("+00:00", ""), r.kind, r.state, shas)
    Console(highlight=False).print(table if rows else "no runs stored")
    return Outcome.OK
