"""The EC2 backend against moto's server: up → down on API calls, tags, rules, cost guard, gc."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from perfgate.cluster.base import TAG_EXPIRES, TAG_OWNER, TAG_ROLE, TAG_RUN, InfraSettings, utcnow
from perfgate.cluster.ec2 import Ec2Cluster
from perfgate.errors import InfraError
from tests.cluster.cloud import STEPS, count_left


@pytest.mark.e2e  # a whole cluster brought up on moto's EC2 and S3 (5 instances, groups, bundle)
def test_up_then_down_leaves_nothing(moto_url: str, settings: InfraSettings, bundle: dict[str, Path]) -> None:
    cluster = Ec2Cluster(settings)
    steps: list[str] = []
    handle = cluster.up(settings, bundle, minutes=30, on_step=steps.append)
    assert tuple(steps) == STEPS
    assert [n.role for n in handle.nodes] == ["target", "master", "worker", "worker", "worker"]
    assert cluster.calls["ec2.RunInstances"] == 3  # one call per role, all nodes of a role at once
    ec2 = boto3.client("ec2", endpoint_url=moto_url)
    insts = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    for inst in insts:
        tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
        assert tags[TAG_RUN] == handle.run_id and tags[TAG_OWNER] == "ci@test"
        assert tags[TAG_EXPIRES] == handle.expires
        assert inst["MetadataOptions"]["HttpTokens"] == "required"
        attr = ec2.describe_instance_attribute(
            InstanceId=inst["InstanceId"], Attribute="instanceInitiatedShutdownBehavior"
        )
        assert attr["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
        data = ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")
        script = base64.b64decode(data["UserData"]["Value"]).decode()
        assert script.startswith("#!/bin/bash") and "dead-man" in script and "169.254.169.254" in script
        assert f"ROLE={tags[TAG_ROLE]};" in script
    groups = {
        g["GroupName"].rsplit("-", 1)[-1]: g
        for g in ec2.describe_security_groups(GroupIds=list(handle.security_groups))["SecurityGroups"]
    }
    for group in groups.values():  # nothing open to the world but HTTPS out
        for perm in group["IpPermissions"]:
            assert not perm.get("IpRanges")
        for perm in group["IpPermissionsEgress"]:
            assert perm.get("FromPort") in (443, 5557, 8080) and perm["IpProtocol"] == "tcp"
    master_in = groups["master"]["IpPermissions"]
    assert master_in[0]["FromPort"] == 5557
    assert master_in[0]["UserIdGroupPairs"][0]["GroupId"] == groups["worker"]["GroupId"]
    target_in = groups["target"]["IpPermissions"]
    assert (target_in[0]["FromPort"], target_in[0]["ToPort"]) == (8080, 8099)
    assert not groups["worker"]["IpPermissions"]
    status = {s.run_id: s for s in cluster.status()}
    assert status[handle.run_id].instances == {"running": 5} and status[handle.run_id].security_groups == 3
    assert count_left(moto_url) == {"instances": 5, "security_groups": 3, "objects": 6}  # lease, bundle, upload form
    reaped = cluster.down(handle.run_id)
    assert (reaped.instances, reaped.security_groups, reaped.objects) == (5, 3, 6)
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}
    assert cluster.down(handle.run_id).instances == 0  # idempotent


def test_cost_guard_refuses_before_any_call(moto_url: str, bundle: dict[str, Path]) -> None:
    settings = InfraSettings(bucket="pg-test", workers=30, max_instances=10)
    cluster = Ec2Cluster(settings)
    with pytest.raises(InfraError, match="max_instances"):
        cluster.up(settings, bundle, minutes=30)
    assert cluster.calls["ec2.RunInstances"] == 0 and cluster.calls["s3.PutObject"] == 0
    cheap = InfraSettings(bucket="pg-test", max_hourly_usd=0.1)
    with pytest.raises(InfraError, match="max_hourly_usd"):
        Ec2Cluster(cheap).up(cheap, bundle, minutes=30)
    with pytest.raises(InfraError, match="max_duration_min"):
        Ec2Cluster(settings).up(InfraSettings(bucket="pg-test"), bundle, minutes=600)
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}


def test_plan_shows_cost_and_limits(moto_url: str, settings: InfraSettings) -> None:
    plan = Ec2Cluster(settings).plan(settings, rounds_minutes=20)
    assert plan.instances == 5 and plan.usd_per_hour == pytest.approx(5 * 0.0893)
    assert plan.usd_per_run == pytest.approx(plan.usd_per_hour * plan.est_minutes / 60)
    assert "vCPU quota" in plan.limits
    assert any("quota not checked" in n for n in plan.notes)  # moto has no EC2 quotas: degrade, say so


@pytest.mark.e2e  # a whole cluster brought up on moto's EC2 and S3 (5 instances, groups, bundle)
def test_gc_reaps_only_expired_runs(moto_url: str, settings: InfraSettings, bundle: dict[str, Path]) -> None:
    cluster = Ec2Cluster(settings)
    handle = cluster.up(settings, bundle, minutes=30)
    assert cluster.gc().instances == 0  # not expired yet
    assert count_left(moto_url)["instances"] == 5
    reaped = cluster.gc(now=utcnow() + timedelta(hours=1))
    assert (reaped.instances, reaped.security_groups) == (5, 3)
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}
    assert handle.run_id not in {s.run_id for s in cluster.status() if s.instances.get("running")}
