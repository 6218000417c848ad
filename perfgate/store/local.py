"""The embedded store: ``.perfgate/`` holds Parquet files plus a SQLite index.

Layout::

    .perfgate/index.sqlite                     runs and per-side rounds, for queries
    .perfgate/runs/<run_id>/manifest.json      config, revisions, machine, versions
    .perfgate/runs/<run_id>/verdict.json       the --json verdict, once judged
    .perfgate/runs/<run_id>/rounds/007.json    a RoundRecord
    .perfgate/runs/<run_id>/rounds/007.samples.parquet
    .perfgate/runs/<run_id>/rounds/007.resources.parquet
    .perfgate/runs/<run_id>/rounds/1000.json   (at least three digits; read back in numeric order)

Every file is written to a temporary name and renamed into place, and SQLite
runs in WAL mode with a busy timeout, so concurrent gate runs are safe.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from perfgate.codec import manifest_from_dict, manifest_to_dict, round_from_dict, round_to_dict
from perfgate.errors import StoreError
from perfgate.model import RESOURCE_SCHEMA, SAMPLE_SCHEMA, Manifest, RoundRecord, RunRow
from perfgate.store.names import check_name, resolve_run, round_file, round_stem

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, created REAL, baseline TEXT, candidate TEXT,
    config_hash TEXT, fingerprint TEXT, kind TEXT, state TEXT
);
CREATE TABLE IF NOT EXISTS round_sides (
    run_id TEXT, idx INTEGER, side TEXT, sha TEXT, scenario TEXT,
    config_hash TEXT, fingerprint TEXT, valid INTEGER,
    PRIMARY KEY (run_id, idx, side)
);
CREATE INDEX IF NOT EXISTS round_sides_key ON round_sides (sha, scenario, config_hash, fingerprint);
"""


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class LocalStore:
    """Runs on local disk. Safe for several writers at once."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        try:
            (self.root / "runs").mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.root}: cannot open the store: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.root / "index.sqlite", timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with closing(self._connect()) as db:
                return db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.root}/index.sqlite: {exc}") from exc

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / check_name(run_id, "run id", str(self.root / "runs"))

    # --- writing -------------------------------------------------------------

    def create_run(self, manifest: Manifest) -> str:
        """Store ``manifest`` (a new run id when it has none) as a running run; its run id."""
        run_id = manifest.run_id or new_run_id()
        data = manifest_to_dict(replace(manifest, run_id=run_id))
        _atomic_write(self.run_dir(run_id) / "manifest.json", json.dumps(data, indent=2, default=str).encode())
        self._execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                time.time(),
                manifest.baseline.sha,
                manifest.candidate.sha,
                manifest.config_hash,
                manifest.fingerprint,
                manifest.kind,
                "running",
            ),
        )
        return run_id

    def save_round(self, record: RoundRecord, samples: pa.Table, resources: pa.Table | None = None) -> None:
        base = self.run_dir(record.run_id) / "rounds"
        stem = round_stem(record.index)
        _atomic_parquet(base / f"{stem}.samples.parquet", samples.cast(SAMPLE_SCHEMA))
        if resources is None:
            resources = RESOURCE_SCHEMA.empty_table()
        _atomic_parquet(base / f"{stem}.resources.parquet", resources.cast(RESOURCE_SCHEMA))
        _atomic_write(base / f"{stem}.json", json.dumps(round_to_dict(record), indent=2, default=str).encode())
        manifest = self.manifest(record.run_id)
        for side in record.sides:
            self._execute(
                "INSERT OR REPLACE INTO round_sides VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.run_id,
                    record.index,
                    side.value,
                    manifest.revision(side).sha,
                    record.scenario,
                    manifest.config_hash,
                    manifest.fingerprint,
                    int(record.valid),
                ),
            )

    def save_verdict(self, run_id: str, verdict: dict[str, Any]) -> None:
        _atomic_write(self.run_dir(run_id) / "verdict.json", json.dumps(verdict, indent=2).encode())
        self._execute("UPDATE runs SET state = ? WHERE run_id = ?", (verdict.get("verdict", ""), run_id))

    def mark_run(self, run_id: str, state: str) -> None:
        self._execute("UPDATE runs SET state = ? WHERE run_id = ?", (state, run_id))

    # --- reading -------------------------------------------------------------

    def _read_json(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise StoreError(f"{path}: not found in the store") from exc
        except UnicodeDecodeError as exc:
            raise StoreError(f"{path}: unreadable: not UTF-8 (byte {exc.start})") from exc
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path}: unreadable: {' '.join(str(exc).split())}") from exc
        if not isinstance(data, dict):
            raise StoreError(f"{path}: unreadable: a JSON object was expected, not {type(data).__name__}")
        return data

    def resolve(self, run: str) -> str:
        """A run id, a unique prefix of one, or ``latest``."""
        runs = [row[0] for row in self._execute("SELECT run_id FROM runs ORDER BY created")]
        return resolve_run(run, runs, str(self.root))

    def manifest(self, run_id: str) -> Manifest:
        path = self.run_dir(run_id) / "manifest.json"
        manifest = manifest_from_dict(self._read_json(path), str(path))
        check_name(manifest.run_id, "run id", str(path))
        return manifest

    def verdict(self, run_id: str) -> dict[str, Any] | None:
        path = self.run_dir(run_id) / "verdict.json"
        return self._read_json(path) if path.exists() else None

    def rounds(self, run_id: str) -> list[RoundRecord]:
        folder = self.run_dir(run_id) / "rounds"
        if not self.run_dir(run_id).is_dir():
            raise StoreError(f"run {run_id!r}: not in the store {self.root}")
        found = sorted((parsed[0], p) for p in folder.glob("*.json") if (parsed := round_file(p.name)) is not None)
        return [self._read_round(path, run_id, index) for index, path in found]

    def _read_round(self, path: Path, run_id: str, index: int) -> RoundRecord:
        try:
            record = round_from_dict(self._read_json(path), str(path))
        except StoreError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"missing key {exc}" if isinstance(exc, KeyError) else " ".join(str(exc).split())
            raise StoreError(f"{path}: not a round record: {what}") from exc
        if record.run_id != run_id or record.index != index:
            raise StoreError(
                f"{path}: holds round {record.index} of run {record.run_id!r}, not round {index} of {run_id!r}"
            )
        return record

    def samples(self, run_id: str, index: int) -> pd.DataFrame:
        return self._read_parquet(self.run_dir(run_id) / "rounds" / f"{round_stem(index)}.samples.parquet")

    def resources(self, run_id: str, index: int) -> pd.DataFrame:
        return self._read_parquet(self.run_dir(run_id) / "rounds" / f"{round_stem(index)}.resources.parquet")

    def _read_parquet(self, path: Path) -> pd.DataFrame:
        try:
            return pq.read_table(path).to_pandas()
        except FileNotFoundError as exc:
            raise StoreError(f"{path}: not found in the store") from exc
        except (OSError, pa.ArrowException, ValueError) as exc:
            raise StoreError(f"{path}: unreadable: {' '.join(str(exc).split())}") from exc

    def list_runs(self) -> list[RunRow]:
        """Every run, oldest first."""
        rows = self._execute(
            "SELECT run_id, created, baseline, candidate, config_hash, fingerprint, kind, state "
            "FROM runs ORDER BY created"
        )
        return [RunRow(*row) for row in rows]

    def find_rounds(self, sha: str, scenario: str, config_hash: str, fingerprint: str) -> list[tuple[str, int, str]]:
        """Valid stored rounds that measured ``sha``: (run_id, index, side)."""
        return self._execute(
            "SELECT run_id, idx, side FROM round_sides WHERE sha = ? AND scenario = ? "
            "AND config_hash = ? AND fingerprint = ? AND valid = 1 ORDER BY run_id, idx",
            (sha, scenario, config_hash, fingerprint),
        )
