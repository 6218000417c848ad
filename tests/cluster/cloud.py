"""Helpers for the cluster tests: the provisioning steps, what perfgate left in moto's account, the
perfgate.toml of the tiny target's repository (the ``repo`` fixture) and git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

STEPS = ("bucket", "lease", "bundle", "security-groups", "rules", "instances", "running")

CONFIG = """
[target]
command = "{python} tinyserver.py {port}"
ready_timeout = 30

[load]
locustfile = "tinyload.py"
user_classes = ["TinyUser"]
users = 4
spawn_rate = 20
warmup = 1
duration = 3

[rounds]
design = "duet"
count = 2
max = 2

[judge]
min_count = 5
"""


def count_left(url: str, bucket: str = "pg-test") -> dict[str, int]:
    """What perfgate left in the account: live instances, its security groups, S3 objects."""
    ec2 = boto3.client("ec2", endpoint_url=url)
    s3 = boto3.client("s3", endpoint_url=url)
    live = [
        i
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] not in ("terminated",)
    ]
    groups = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"]
    try:
        objects = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
    except ClientError:
        objects = 0
    return {"instances": len(live), "security_groups": len(groups), "objects": objects}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout
