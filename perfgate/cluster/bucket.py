"""The S3 half of an EC2 cluster run: its prefix ``{prefix}/runs/{run_id}/`` in the bucket.

The lease (``lease.json``, with the run's expiry) is written before anything else and
deleted last, so that ``gc`` can always tell a prefix perfgate made from anything else kept
in the same bucket. The bundle is read through presigned GET URLs, and nodes write only
through the run's presigned POST form (``bundle/upload.json``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from perfgate.cluster.base import InfraSettings, iso, utcnow

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUNDLE_NAMES = ("wheel", "baseline", "candidate", "config")
#: Lifetime of the bundle's presigned GET URLs (they sit in user-data, which anything on the
#: node can read from IMDS): long enough for a node to boot and fetch them (the controller waits
#: at most remote.BOOT_TIMEOUT_S for that), no longer.
BUNDLE_URL_S = 16 * 60
#: Largest object a node may upload through the run's presigned POST form (a round's samples).
UPLOAD_MAX_BYTES = 2 * 2**30
#: The form of the run ids perfgate's clusters use (base.new_cluster_run_id); gc touches no other.
CLUSTER_RUN_ID = re.compile(r"pg-[0-9]{14}-[0-9a-f]{6}")
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_NO_BUCKET = ("NoSuchBucket", "404")


def is_cluster_run_id(run_id: object) -> bool:
    return isinstance(run_id, str) and CLUSTER_RUN_ID.fullmatch(run_id) is not None


def is_expiry(value: object) -> bool:
    """An expiry as perfgate writes it (``2026-01-01T00:00:00Z``, compared as text)."""
    return isinstance(value, str) and _ISO.fullmatch(value) is not None


class RunBucket:
    """One bucket's cluster runs, through an S3 client (SigV4)."""

    def __init__(self, s3: S3Client, settings: InfraSettings):
        self.s3 = s3
        self.settings = settings

    def run_prefix(self, run_id: str) -> str:
        return f"{self.settings.prefix}/runs/{run_id}"

    def ensure(self) -> None:
        """Create the bucket unless it is there."""
        try:
            self.s3.head_bucket(Bucket=self.settings.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            region = self.settings.region
            kw: dict[str, Any] = (
                {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            self.s3.create_bucket(Bucket=self.settings.bucket, **kw)

    def put_lease(self, run_id: str, expires: str) -> None:
        lease = {"run_id": run_id, "expires": expires, "owner": self.settings.owner_tag, "created": iso(utcnow())}
        self._put_json(f"{self.run_prefix(run_id)}/lease.json", lease)

    def put_bundle(self, run_id: str, bundle: dict[str, Path], minutes: float) -> dict[str, str]:
        """Upload the bundle and the run's upload form; presigned GET URLs of each, by name."""
        prefix = self.run_prefix(run_id)
        urls = {}
        for name in BUNDLE_NAMES:
            key = f"{prefix}/bundle/{bundle[name].name}"
            self.s3.upload_file(str(bundle[name]), self.settings.bucket, key)
            urls[name] = self._presign(key)
        key = f"{prefix}/bundle/upload.json"
        self._put_json(key, self.upload_form(prefix, minutes))
        urls["upload"] = self._presign(key)
        return urls

    def upload_form(self, prefix: str, minutes: float) -> dict[str, Any]:
        """A presigned POST form (SigV4) that lets a node write objects under the run's own ``prefix/``
        and nowhere else, until the run's deadline. The nodes' instance role has no S3 write at all:
        this form is how they upload, so code running on a node cannot touch another run."""
        return self.s3.generate_presigned_post(
            self.settings.bucket,
            f"{prefix}/${{filename}}",
            Conditions=[["starts-with", "$key", f"{prefix}/"], ["content-length-range", 0, UPLOAD_MAX_BYTES]],
            ExpiresIn=int(minutes * 60) + 600,
        )

    def run_ids(self) -> list[str]:
        """The names under ``runs/`` (perfgate's or not: see :meth:`lease`)."""
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=f"{self.settings.prefix}/runs/", Delimiter="/"
            )
            return [
                p["Prefix"].rstrip("/").rsplit("/", 1)[-1] for page in pages for p in page.get("CommonPrefixes", [])
            ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NO_BUCKET:
                return []
            raise

    def objects(self, run_id: str) -> list[str]:
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=self.run_prefix(run_id) + "/"
            )
            return [o["Key"] for page in pages for o in page.get("Contents", [])]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NO_BUCKET:
                return []
            raise

    def lease(self, run_id: str) -> dict[str, Any]:
        """The run's lease, if perfgate wrote one: a cluster run id and a lease naming that very run
        with an ISO expiry. Anything else under ``runs/`` (a results store kept in the same bucket and
        prefix, say) is not perfgate's cluster, and gets {}."""
        if not is_cluster_run_id(run_id):
            return {}
        try:
            body = self.s3.get_object(Bucket=self.settings.bucket, Key=f"{self.run_prefix(run_id)}/lease.json")["Body"]
            lease = json.loads(body.read())
        except (ClientError, ValueError):
            return {}
        if not isinstance(lease, dict) or lease.get("run_id") != run_id or not is_expiry(lease.get("expires")):
            return {}
        return lease

    def delete_run(self, run_id: str) -> int:
        """Delete a prefix perfgate leased as this cluster run's (no other), the lease last, so that a
        teardown cut short leaves a prefix that gc still recognises as its own; the objects deleted."""
        keys = self.objects(run_id) if self.lease(run_id) else []
        lease = f"{self.run_prefix(run_id)}/lease.json"
        ordered = [k for k in keys if k != lease] + [k for k in keys if k == lease]
        for start in range(0, len(ordered), 1000):
            self.s3.delete_objects(
                Bucket=self.settings.bucket,
                Delete={"Objects": [{"Key": k} for k in ordered[start : start + 1000]], "Quiet": True},
            )
        return len(keys)

    def _presign(self, key: str) -> str:
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.settings.bucket, "Key": key}, ExpiresIn=BUNDLE_URL_S
        )

    def _put_json(self, key: str, data: dict[str, Any]) -> None:
        self.s3.put_object(Bucket=self.settings.bucket, Key=key, Body=json.dumps(data).encode())
