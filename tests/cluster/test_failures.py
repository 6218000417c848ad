"""Failure injection at each provisioning step; afterwards gc must leave nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from perfgate.cluster.base import InfraSettings, utcnow
from perfgate.cluster.ec2 import Ec2Cluster
from perfgate.errors import InfraError
from tests.cluster.cloud import STEPS, count_left

HERE = Path(__file__).parent
#: the API call that fails inside each step, and which call of that operation it is
FAULTS = {
    "bucket": ("s3.HeadBucket", 1),
    "lease": ("s3.PutObject", 1),
    "bundle": ("s3.PutObject", 3),
    "security-groups": ("ec2.CreateSecurityGroup", 2),
    "rules": ("ec2.AuthorizeSecurityGroupEgress", 2),
    "instances": ("ec2.RunInstances", 3),  # two roles' instances already exist
    "running": ("ec2.DescribeInstances", 1),
}


def inject(cluster: Ec2Cluster, operation: str, nth: int) -> None:
    seen = {"n": 0}

    def fail(**kwargs) -> None:
        seen["n"] += 1
        if seen["n"] == nth:
            raise ClientError(
                {"Error": {"Code": "InjectedFault", "Message": f"{operation} #{nth}"}}, operation.split(".")[1]
            )

    service, op = operation.split(".")
    for client in (cluster.ec2, cluster.s3):
        if client.meta.service_model.endpoint_prefix == service:
            client.meta.events.register(f"before-call.{service}.{op}", fail)


@pytest.mark.e2e  # cluster bring-up on moto's EC2 and S3, step by step
@pytest.mark.parametrize("step", list(FAULTS))
def test_api_error_at_each_step(step: str, moto_url: str, settings: InfraSettings, bundle: dict[str, Path]) -> None:
    cluster = Ec2Cluster(settings)
    inject(cluster, *FAULTS[step])
    done: list[str] = []
    with pytest.raises(InfraError, match="InjectedFault"):
        cluster.up(settings, bundle, minutes=30, on_step=done.append)
    assert STEPS[len(done)] == step  # it failed inside that step
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}  # rolled back
    Ec2Cluster(settings).gc(now=utcnow() + timedelta(hours=2))
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}


@pytest.mark.e2e  # cluster bring-up on moto's EC2 and S3, step by step
@pytest.mark.parametrize("step", STEPS)
def test_killed_between_steps_then_gc(
    step: str, moto_url: str, settings: InfraSettings, bundle: dict[str, Path]
) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "provision_child.py"), str(bundle["wheel"].parent)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for expected in STEPS:
            line = proc.stdout.readline().strip()
            assert line == f"step {expected}", line
            if expected == step:
                break
            proc.stdin.write("\n")
            proc.stdin.flush()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    left = count_left(moto_url)
    made = STEPS.index(step)
    assert left["objects"] == (0 if made < 1 else 1 if made < 2 else 6)  # the lease, then the bundle + upload form
    assert left["instances"] == (5 if made >= 5 else 0)  # killed: nothing rolled back
    reaped = Ec2Cluster(settings).gc(now=utcnow() + timedelta(hours=2))
    assert reaped.objects == left["objects"]
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}
