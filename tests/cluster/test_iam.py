"""The IAM policy allows every call the EC2 backend makes, and nothing broad."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from perfgate.cluster.base import InfraSettings, utcnow
from perfgate.cluster.ec2 import Ec2Cluster

POLICY = Path(__file__).resolve().parents[2] / "infra" / "iam" / "perfgate-policy.json"
#: boto3 operation -> IAM action, where the names differ
ACTION = {
    "s3.HeadBucket": "s3:ListBucket",
    "s3.ListObjectsV2": "s3:ListBucket",
    "s3.DeleteObjects": "s3:DeleteObject",
    "service-quotas.GetServiceQuota": "servicequotas:GetServiceQuota",
}


@pytest.mark.e2e  # a whole cluster brought up on moto's EC2 and S3 (5 instances, groups, bundle)
def test_policy_covers_every_call(moto_url: str, settings: InfraSettings, bundle: dict[str, Path]) -> None:
    cluster = Ec2Cluster(settings)
    cluster.up(settings, bundle, minutes=30)
    cluster.status()
    cluster.gc(now=utcnow() + timedelta(hours=1))
    statements = json.loads(POLICY.read_text())["Statement"]
    allowed = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    needed = {ACTION.get(op, op.replace(".", ":")) for op in cluster.calls if op != "s3.CreateBucket"}
    assert needed <= allowed, needed - allowed
    for statement in statements:  # mutations are scoped by tags or resource names, never "*" unconditionally
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        if statement["Resource"] == "*":
            assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in actions) or "Condition" in statement
