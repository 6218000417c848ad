"""The shared store on S3 (boto3), for CI runners that come and go.

Same interface as :class:`~perfgate.store.local.LocalStore`. Every write goes to
a local cache (a ``LocalStore``, so reports render from local files) and to
the bucket; reads come from the cache and fetch what it lacks. Run files are
immutable once written (a round, the manifest, the verdict), so a cached file
never goes stale. Layout under ``s3://BUCKET/PREFIX/``::

    runs/<run_id>/...                                   the LocalStore layout, file for file
    index/runs/<run_id>.json                            the run's row (shas, key, state)
    index/rounds/<sha>/<scenario>/<config_hash>/<fingerprint>/<run_id>.<idx>.<side>.<valid>

The round index is keyed by commit, scenario, config hash and machine
fingerprint, so :meth:`S3Store.find_rounds` is one LIST. Each writer only ever
creates its own keys (and rewrites its own run row), so concurrent runners
never overwrite each other. The endpoint comes from boto3's usual settings
(``AWS_ENDPOINT_URL``, profiles, ...) unless given.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd
import pyarrow as pa

from perfgate.codec import run_row_from_dict
from perfgate.errors import StoreError
from perfgate.model import Manifest, RoundRecord, RunRow
from perfgate.store.local import LocalStore
from perfgate.store.names import check_index, check_name, check_side, key_part, resolve_run, round_file, round_stem

#: States a run never leaves: its index row can be cached for good.
SETTLED_STATES = frozenset({"pass", "regression", "inconclusive", "error", "interrupted"})


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ("bucket", "some/prefix")."""
    if not url.startswith("s3://"):
        raise StoreError(f"{url}: not an s3:// URL")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise StoreError(f"{url}: no bucket in the S3 URL (s3://BUCKET/PREFIX)")
    return bucket, prefix.strip("/")


class _MissingRun(StoreError):
    """The bucket has no index row for this run (not in the store, or deleted meanwhile)."""


def _max_attempts(default: int = 5) -> int:
    """Attempts per S3 call: botocore's own ``AWS_MAX_ATTEMPTS`` when it is set, else ``default``."""
    value = os.environ.get("AWS_MAX_ATTEMPTS", "")
    return int(value) if value.isdigit() and int(value) > 0 else default


class S3Store:
    """Runs in an S3 bucket, with a local cache; safe for several writers at once."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        cache_dir: Path | str,
        client: Any = None,
        endpoint_url: str | None = None,
    ):
        import boto3
        from botocore.config import Config as BotoConfig

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.cache = LocalStore(cache_dir)
        self.root = self.cache.root
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=BotoConfig(
                retries={"max_attempts": _max_attempts(), "mode": "standard"}, connect_timeout=10, read_timeout=60
            ),
        )
        self._call("head_bucket", Bucket=bucket)

    @classmethod
    def from_url(cls, url: str, cache_dir: Path | str, **kwargs: Any) -> S3Store:
        bucket, prefix = parse_url(url)
        return cls(bucket, prefix, cache_dir=cache_dir, **kwargs)

    # --- S3 plumbing -----------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound") and operation != "head_bucket":
                raise FileNotFoundError(kwargs.get("Key", "")) from exc
            if code in ("NoSuchBucket", "404", "NotFound"):
                raise StoreError(f"{self.url}: bucket {self.bucket!r} does not exist") from exc
            raise StoreError(f"{self.url}: S3 {operation} failed: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"{self.url}: S3 {operation} failed: {exc}") from exc

    def _put(self, key: str, body: bytes) -> None:
        self._call("put_object", Bucket=self.bucket, Key=key, Body=body)

    def _get(self, key: str) -> bytes:
        body: bytes = self._call("get_object", Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def _list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", **kwargs)
            keys.extend(item["Key"] for item in page.get("Contents", ()))
            if not page.get("IsTruncated"):
                return keys
            token = page.get("NextContinuationToken")

    def _upload(self, run_id: str, relative: str) -> None:
        path = self.cache.run_dir(run_id) / relative
        self._put(self._key("runs", run_id, relative), path.read_bytes())

    def _download(self, run_id: str, relative: str) -> Path:
        """The cached copy of a run file, fetched first if the cache lacks it."""
        path = self.cache.run_dir(run_id) / relative
        if path.exists():
            return path
        try:
            data = self._get(self._key("runs", run_id, relative))
        except FileNotFoundError as exc:
            raise StoreError(f"{self.url}: run {run_id!r} has no {relative}") from exc
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{path}: cannot write the S3 cache: {exc.strerror or exc}") from exc
        return path

    # --- the run index ---------------------------------------------------------------

    def _row_cache(self, run_id: str) -> Path:
        return self.cache.root / "s3-index" / f"{check_name(run_id, 'run id', self.url)}.json"

    def _put_row(self, row: RunRow) -> None:
        self._put(self._key("index", "runs", f"{row.run_id}.json"), json.dumps(asdict(row)).encode())

    def _row(self, run_id: str) -> RunRow:
        cached = self._row_cache(run_id)
        if cached.exists():
            return _parse_row(cached.read_bytes(), run_id, str(cached))
        key = self._key("index", "runs", f"{run_id}.json")
        try:
            row = _parse_row(self._get(key), run_id, f"s3://{self.bucket}/{key}")
        except FileNotFoundError as exc:
            raise _MissingRun(f"run {run_id!r}: not in the store {self.url}") from exc
        if row.state in SETTLED_STATES:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.{secrets.token_hex(4)}")
            tmp.write_text(json.dumps(asdict(row)))
            os.replace(tmp, cached)
        return row

    def _set_state(self, run_id: str, state: str) -> None:
        self._row_cache(run_id).unlink(missing_ok=True)
        self._put_row(replace(self._row(run_id), state=state))

    # --- writing ---------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        return self.cache.run_dir(run_id)

    def create_run(self, manifest: Manifest) -> str:
        run_id = self.cache.create_run(manifest)
        self._upload(run_id, "manifest.json")
        self._put_row(
            RunRow(
                run_id=run_id,
                created=time.time(),
                baseline=manifest.baseline.sha,
                candidate=manifest.candidate.sha,
                config_hash=manifest.config_hash,
                fingerprint=manifest.fingerprint,
                kind=manifest.kind,
            )
        )
        return run_id

    def save_round(self, record: RoundRecord, samples: pa.Table, resources: pa.Table | None = None) -> None:
        self.cache.save_round(record, samples, resources)
        stem = f"rounds/{round_stem(record.index)}"
        for suffix in (".samples.parquet", ".resources.parquet", ".json"):  # the record last: it marks completeness
            self._upload(record.run_id, stem + suffix)
        manifest = self.cache.manifest(record.run_id)
        for side in record.sides:
            name = f"{record.run_id}.{round_stem(record.index)}.{side.value}.{int(record.valid)}"
            prefix = self._index_prefix(
                manifest.revision(side).sha, record.scenario, manifest.config_hash, manifest.fingerprint
            )
            self._put(prefix + name, b"")

    def save_verdict(self, run_id: str, verdict: dict[str, Any]) -> None:
        self.cache.save_verdict(run_id, verdict)
        self._upload(run_id, "verdict.json")
        self._set_state(run_id, verdict.get("verdict", ""))

    def mark_run(self, run_id: str, state: str) -> None:
        self.cache.mark_run(run_id, state)
        self._set_state(run_id, state)

    # --- reading ---------------------------------------------------------------------

    def manifest(self, run_id: str) -> Manifest:
        self._download(run_id, "manifest.json")
        return self.cache.manifest(run_id)

    def verdict(self, run_id: str) -> dict[str, Any] | None:
        try:
            self._download(run_id, "verdict.json")
        except StoreError:
            self._row(run_id)  # an unknown run is an error; a run without a verdict is None
            return None
        return self.cache.verdict(run_id)

    def rounds(self, run_id: str) -> list[RoundRecord]:
        folder = self._key("runs", run_id, "rounds") + "/"
        keys = self._list(folder)
        if not keys and not self.cache.run_dir(run_id).is_dir():
            self._row(run_id)  # raises for a run the store does not have
        for key in keys:
            name = key[len(folder) :]
            parsed = round_file(name)
            if parsed is None:
                raise StoreError(f"s3://{self.bucket}/{key}: not a round file name")
            if parsed[1] == ".json":
                self._download(run_id, f"rounds/{name}")
        self._download(run_id, "manifest.json")
        return self.cache.rounds(run_id)

    def samples(self, run_id: str, index: int) -> pd.DataFrame:
        self._download(run_id, f"rounds/{round_stem(index)}.samples.parquet")
        return self.cache.samples(run_id, index)

    def resources(self, run_id: str, index: int) -> pd.DataFrame:
        self._download(run_id, f"rounds/{round_stem(index)}.resources.parquet")
        return self.cache.resources(run_id, index)

    def list_runs(self) -> list[RunRow]:
        folder = self._key("index", "runs") + "/"
        rows = []
        for key in self._list(folder):
            run_id = check_name(key[len(folder) :].removesuffix(".json"), "run id", f"s3://{self.bucket}/{key}")
            try:
                row = self._row(run_id)
            except _MissingRun:
                continue  # deleted between LIST and GET
            rows.append(row)
        return sorted(rows, key=lambda r: (r.created, r.run_id))

    def resolve(self, run: str) -> str:
        """A run id, a unique prefix of one, or ``latest``."""
        return resolve_run(run, [row.run_id for row in self.list_runs()], self.url)

    def _index_prefix(self, sha: str, scenario: str, config_hash: str, fingerprint: str) -> str:
        ids = [
            check_name(x, what, self.url) if x else "-"
            for x, what in ((sha, "sha"), (config_hash, "config hash"), (fingerprint, "fingerprint"))
        ]
        return self._key("index", "rounds", ids[0], key_part(scenario), ids[1], ids[2]) + "/"

    def find_rounds(self, sha: str, scenario: str, config_hash: str, fingerprint: str) -> list[tuple[str, int, str]]:
        """Valid stored rounds that measured ``sha``: (run_id, index, side)."""
        prefix = self._index_prefix(sha, scenario, config_hash, fingerprint)
        found = []
        for key in self._list(prefix):
            found.extend(_index_entry(key[len(prefix) :], f"s3://{self.bucket}/{key}"))
        return sorted(found)


def _parse_row(data: bytes, run_id: str, where: str) -> RunRow:
    """A run's index row, checked: a JSON object for this very run id."""
    try:
        row = run_row_from_dict(json.loads(data.decode("utf-8")), where)
    except ValueError as exc:  # not UTF-8, not JSON
        raise StoreError(f"{where}: unreadable run index row: {' '.join(str(exc).split())}") from exc
    if row.run_id != run_id:
        raise StoreError(f"{where}: not the index row of run {run_id!r}")
    return row


def _index_entry(name: str, where: str) -> list[tuple[str, int, str]]:
    """``<run_id>.<idx>.<side>.<valid>`` → [(run_id, idx, side)] when valid, [] when not."""
    parts = unquote(name).rsplit(".", 3)
    if len(parts) != 4 or parts[3] not in ("0", "1"):
        raise StoreError(f"{where}: not a round index entry (RUN.INDEX.SIDE.VALID)")
    run_id = check_name(parts[0], "run id", where)
    index, side = check_index(parts[1], where), check_side(parts[2], where)
    return [(run_id, index, side)] if parts[3] == "1" else []


def open_s3_store(url: str, root: Path | str | None = None) -> S3Store:
    """The store for ``[store] path = "s3://bucket/prefix"``; its cache is ``$PERFGATE_S3_CACHE``,
    else ``<root>/.perfgate-cache/<bucket>/<prefix>``."""
    bucket, prefix = parse_url(url)
    base = Path(os.environ.get("PERFGATE_S3_CACHE") or Path(root or ".") / ".perfgate-cache")
    return S3Store(bucket, prefix, cache_dir=base / bucket / (prefix or "_"))
