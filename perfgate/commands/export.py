"""``perfgate export RUN``: a stored run's samples and round metrics as CSV or Parquet.

Also the Python API for a run's data as pandas frames::

    from perfgate.store import open_store
    from perfgate.commands.export import samples_frame, rounds_frame

    store = open_store(".perfgate")
    run = store.resolve("latest")
    samples = samples_frame(store, run)    # one row per request (SAMPLE_SCHEMA columns, plus round)
    rounds = rounds_frame(store, run)      # one row per round, side and request name: the judge's values
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from rich.console import Console

from perfgate.commands._common import store_and_reports
from perfgate.model import SAMPLE_COLUMNS
from perfgate.outcome import Outcome
from perfgate.store import open_existing_store
from perfgate.store.local import LocalStore
from perfgate.store.query import stored_evidence

FORMATS = ("csv", "parquet")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id, unique prefix of one, or 'latest'")
    parser.add_argument("--format", choices=FORMATS, default="csv", help="file format (default: csv)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder to write to (default: .)")
    parser.add_argument("--store", type=str, help="the store (default: [store] path of the config here)")
    parser.add_argument("--config", type=Path, help="config for the default store")


def samples_frame(store: LocalStore, run_id: str) -> pd.DataFrame:
    """Every stored request of the run, warm-up included (flagged), with its round."""
    frames = [store.samples(run_id, r.index).assign(round=r.index) for r in store.rounds(run_id)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*SAMPLE_COLUMNS, "round"])


def rounds_frame(store: LocalStore, run_id: str) -> pd.DataFrame:
    """The judge's round-level values of every valid round: one row per round, side and name."""
    rows = [
        {
            "round": m.round_index,
            "pair": m.pair,
            "scenario": m.scenario,
            "side": m.side.value,
            "name": m.name,
            "count": m.count,
            "errors": m.errors,
            **m.values,
        }
        for m in stored_evidence(store, run_id).metrics
    ]
    return pd.DataFrame(rows)


def run(args: argparse.Namespace, console: Console) -> Outcome:
    location, _ = store_and_reports(args)
    store = open_existing_store(location)
    run_id = store.resolve(args.run)
    args.out.mkdir(parents=True, exist_ok=True)
    out = Console(highlight=False)
    for what, frame in (("samples", samples_frame(store, run_id)), ("rounds", rounds_frame(store, run_id))):
        path = args.out / f"{run_id}-{what}.{args.format}"
        if args.format == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        out.print(f"{what}: {path} ({len(frame):,} rows)", markup=False, soft_wrap=True)
    return Outcome.OK
