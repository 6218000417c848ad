"""The EC2 backend touches only what it made, and hands nodes only short-lived SigV4 URLs.

Against moto's server over real HTTP (tests/cluster/conftest.py); moto enforces neither
URL expiry nor POST policies, so those are checked on the signed documents themselves.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from perfgate.cluster.base import TAG_EXPIRES, TAG_RUN, InfraSettings, iso, utcnow
from perfgate.cluster.bucket import BUNDLE_URL_S
from perfgate.cluster.ec2 import Ec2Cluster
from perfgate.cluster.remote import BOOT_TIMEOUT_S
from perfgate.store.s3 import S3Store
from tests.minimal_runs import write_run

pytestmark = pytest.mark.timeout(120)


def user_data(moto_url: str, instance_id: str) -> str:
    ec2 = boto3.client("ec2", endpoint_url=moto_url)
    data = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    return base64.b64decode(data["UserData"]["Value"]).decode()


def keys(bucket: str, prefix: str = "") -> set[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


# --- 2: gc reaps only what perfgate tagged and leased ----------------------------------


@pytest.mark.e2e  # a whole cluster brought up on moto's EC2 and S3 (5 instances, groups, bundle)
def test_gc_spares_a_results_store_under_the_same_bucket_and_prefix(
    moto_url: str, settings: InfraSettings, bundle: dict[str, Path], tmp_path: Path
) -> None:
    """Before, gc took every ``<prefix>/runs/*`` without a lease for expired, and deleted it."""
    cluster = Ec2Cluster(settings)
    handle = cluster.up(settings, bundle, minutes=30)
    store = S3Store(settings.bucket, settings.prefix, cache_dir=tmp_path / "writer")
    run_id = write_run(store)
    results = keys(settings.bucket, f"{settings.prefix}/runs/{run_id}/")
    assert len(results) >= 5
    # not perfgate's either: a cluster-like folder without a lease, one with a lease for another run,
    # and an instance that carries perfgate's run tag but no expiry
    s3 = boto3.client("s3")
    s3.put_object(Bucket=settings.bucket, Key=f"{settings.prefix}/runs/pg-20200101000000-abcdef/keep.txt", Body=b"1")
    s3.put_object(
        Bucket=settings.bucket,
        Key=f"{settings.prefix}/runs/pg-20200101000000-123456/lease.json",
        Body=json.dumps({"run_id": "someone-else", "expires": "2000-01-01T00:00:00Z"}).encode(),
    )
    ec2 = boto3.client("ec2")
    foreign = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": TAG_RUN, "Value": "pg-20200101000000-fedcba"}]}
        ],
    )
    foreign_id = foreign["Instances"][0]["InstanceId"]
    before = keys(settings.bucket)

    reaped = cluster.gc(now=utcnow() + timedelta(hours=2))
    after = keys(settings.bucket)
    assert reaped.instances == len(handle.nodes)
    assert not {k for k in after if k.startswith(handle.run_prefix + "/")}  # the cluster's own prefix: gone
    assert after == {k for k in before if not k.startswith(handle.run_prefix + "/")}  # everything else: kept
    reader = S3Store(settings.bucket, settings.prefix, cache_dir=tmp_path / "reader")
    assert reader.resolve("latest") == run_id and len(reader.rounds(run_id)) == 3
    state = ec2.describe_instances(InstanceIds=[foreign_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"


def test_down_of_a_results_run_id_deletes_no_objects(moto_url: str, settings: InfraSettings, tmp_path: Path) -> None:
    boto3.client("s3").create_bucket(Bucket=settings.bucket)
    store = S3Store(settings.bucket, settings.prefix, cache_dir=tmp_path / "w")
    run_id = write_run(store, rounds=1)
    before = keys(settings.bucket)
    ec2 = boto3.client("ec2")
    ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": TAG_RUN, "Value": run_id}, {"Key": TAG_EXPIRES, "Value": "2000-01-01T00:00:00Z"}],
            }
        ],
    )
    Ec2Cluster(settings).gc(now=utcnow() + timedelta(hours=2))
    assert Ec2Cluster(settings).down(run_id).objects == 0
    assert keys(settings.bucket) == before


# --- 3: presigned URLs are SigV4 and short-lived -----------------------------------------


@pytest.mark.e2e  # a whole cluster brought up on moto's EC2 and S3 (5 instances, groups, bundle)
def test_bundle_urls_are_sigv4_and_expire_soon(moto_url: str, settings: InfraSettings, bundle: dict[str, Path]) -> None:
    cluster = Ec2Cluster(settings)
    started = datetime.now(UTC).replace(microsecond=0)
    handle = cluster.up(settings, bundle, minutes=60)
    script = user_data(moto_url, handle.nodes[0].instance_id)
    urls = re.findall(r"'(https?://[^']+)'", script)
    assert len(urls) >= 4
    for url in urls:
        query = parse_qs(urlparse(url).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"], url
        assert "Signature" not in query and "AWSAccessKeyId" not in query  # no SigV2 leftovers
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))
        assert signed >= started - timedelta(seconds=5)
        assert expires <= started + timedelta(seconds=BUNDLE_URL_S + 60)  # not the run's 60 minutes
        assert iso(expires) < handle.expires
        assert urllib.request.urlopen(url, timeout=10).status == 200  # and they do work
    assert BOOT_TIMEOUT_S <= BUNDLE_URL_S <= 20 * 60  # long enough to boot, no longer


# --- 4: the nodes' reach: read their control files, write only their own run ---------------

NODE_POLICY = Path(__file__).resolve().parents[2] / "infra" / "iam" / "perfgate-node-policy.json"
#: what the on-node agent reads with its role (perfgate/cluster/agent.py)
AGENT_READS = (
    "done.json",
    "rounds/0003/request.json",
    "rounds/0003/abort.json",
    "rounds/0003/master.json",
    "rounds/0003/result.json",
    "rounds/0003/targets-1.json",
)
#: what it must not read or write with its role: bundles (source, wheel, config with env), results, leases
NOT_FOR_NODES = (
    "bundle/perfgate-0.1.0-py3-none-any.whl",
    "bundle/candidate.tar",
    "bundle/config.json",
    "bundle/upload.json",
    "rounds/0003/samples.parquet",
    "rounds/0003/resources-0.parquet",
    "lease.json",
    "nodes/target-0.json",
)


def _s3_pattern_matches(pattern: str, key: str) -> bool:
    """IAM's resource matching: ``*`` matches any run of characters, ``/`` included."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), key) is not None


def test_the_node_role_cannot_write_s3_nor_read_other_runs_bundles_or_results() -> None:
    statements = json.loads(NODE_POLICY.read_text())["Statement"]
    resources: list[str] = []
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert actions == ["s3:GetObject"], actions  # no Put/Delete/List, no wildcard actions
        resources += [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
    patterns = [r.removeprefix("arn:aws:s3:::perfgate-runs/") for r in resources]
    assert all(r.startswith("arn:aws:s3:::perfgate-runs/perfgate/runs/") for r in resources), resources
    run = "perfgate/runs/pg-20260101000000-abcdef/"
    for key in AGENT_READS:
        assert any(_s3_pattern_matches(p, run + key) for p in patterns), key
    for key in NOT_FOR_NODES:
        assert not any(_s3_pattern_matches(p, run + key) for p in patterns), key


@pytest.mark.e2e  # a whole cluster brought up on moto's EC2 and S3 (5 instances, groups, bundle)
def test_nodes_upload_through_a_form_scoped_to_their_run(
    moto_url: str, settings: InfraSettings, bundle: dict[str, Path]
) -> None:
    from perfgate.cluster.agent import post_object

    handle = Ec2Cluster(settings).up(settings, bundle, minutes=30)
    script = user_data(moto_url, handle.nodes[0].instance_id)
    url = next(u for u in re.findall(r"'(https?://[^']+)'", script) if "/bundle/upload.json?" in u)
    form = json.loads(urllib.request.urlopen(url, timeout=10).read())
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["starts-with", "$key", handle.run_prefix + "/"] in policy["conditions"]
    assert not any(
        c[0] == "starts-with" and not c[2].startswith(handle.run_prefix + "/")
        for c in policy["conditions"]
        if isinstance(c, list) and c[1] == "$key"
    )
    assert form["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    expiration = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expiration <= datetime.strptime(handle.expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(
        minutes=11
    )
    post_object(form, f"{handle.run_prefix}/rounds/0000/result.json", b'{"ok": true}')
    body = boto3.client("s3").get_object(Bucket=settings.bucket, Key=f"{handle.run_prefix}/rounds/0000/result.json")
    assert json.loads(body["Body"].read()) == {"ok": True}
