"""The EC2 backend: boto3, tags on creation, least-privilege security groups, teardown and gc.

Provisioning steps, in order (each reported to ``on_step``): ``bucket``, ``lease``
(``runs/{id}/lease.json`` with the expiry: written before anything else, so
``gc`` can always reap the prefix), ``bundle`` (plus ``upload.json``, the run's presigned POST
form: the only way nodes write to S3), ``security-groups``, ``rules``,
``instances`` (one RunInstances call per role), ``running``. Every EC2 resource
carries the run id, expiry and owner tags from the call that creates it.
Works against any endpoint boto3 resolves, moto's server included
(``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from perfgate.cluster import cost
from perfgate.cluster.base import (
    PORT_SPAN,
    ROLES,
    TAG_EXPIRES,
    TAG_OWNER,
    TAG_ROLE,
    TAG_RUN,
    Cluster,
    ClusterHandle,
    ClusterPlan,
    InfraSettings,
    Node,
    Reaped,
    RunStatus,
    StepHook,
    expiry,
    iso,
    new_cluster_run_id,
    utcnow,
)
from perfgate.cluster.bucket import BUNDLE_NAMES, RunBucket, is_cluster_run_id, is_expiry
from perfgate.cluster.userdata import RoleRange, render
from perfgate.errors import InfraError

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import ResourceTypeType
    from mypy_boto3_ec2.type_defs import (
        FilterTypeDef,
        InstanceTypeDef,
        IpPermissionTypeDef,
        SecurityGroupTypeDef,
        TagSpecificationTypeDef,
        TagTypeDef,
        WaiterConfigTypeDef,
    )

AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"
WAIT: WaiterConfigTypeDef = {"Delay": 2, "MaxAttempts": 90}  # every waiter is bounded: 3 minutes at most
API_ERRORS = (ClientError, BotoCoreError, WaiterError, Boto3Error)


def _api_error(step: str, exc: BaseException) -> InfraError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return InfraError(f"{step}: {exc.operation_name} failed: {err.get('Code', '?')}: {err.get('Message', '')}")
    return InfraError(f"{step}: {type(exc).__name__}: {' '.join(str(exc).split())}")


def _tag_spec(resource: ResourceTypeType, tags: list[TagTypeDef]) -> TagSpecificationTypeDef:
    return {"ResourceType": resource, "Tags": tags}


class Ec2Cluster(Cluster):
    name = "ec2"

    def __init__(self, settings: InfraSettings, *, endpoint_url: str | None = None):
        self.settings = settings
        session = boto3.session.Session(region_name=settings.region)
        config = BotoConfig(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60)
        kw: dict[str, Any] = {"config": config, **({"endpoint_url": endpoint_url} if endpoint_url else {})}
        self.ec2 = session.client("ec2", **kw)
        # SigV4 for every S3 request and presigned URL (botocore still presigns with SigV2 by default)
        self.s3 = session.client("s3", **{**kw, "config": config.merge(BotoConfig(signature_version="s3v4"))})
        self.bucket = RunBucket(self.s3, settings)
        self.ssm = session.client("ssm", **kw)
        self.quotas = session.client("service-quotas", **kw)
        self.calls: Counter[str] = Counter()
        self._amis: dict[str, str] = {}
        for client in (self.ec2, self.s3, self.ssm, self.quotas):
            client.meta.events.register("before-call", self._count)

    def _count(self, event_name: str = "", **_: Any) -> None:
        self.calls[event_name.removeprefix("before-call.")] += 1

    def run_prefix(self, run_id: str) -> str:
        return self.bucket.run_prefix(run_id)

    # --- plan ---------------------------------------------------------------

    def plan(self, settings: InfraSettings, rounds_minutes: float, run_id: str = "") -> ClusterPlan:
        plan = cost.estimate(settings, run_id or new_cluster_run_id(), rounds_minutes)
        limit, note = cost.check_vcpu_quota(self.quotas, self.ec2, plan)
        limits = {**plan.limits, "vCPU quota": limit}
        return ClusterPlan(
            plan.run_id,
            plan.rows,
            plan.usd_per_hour,
            plan.est_minutes,
            plan.usd_per_run,
            limits,
            tuple(n for n in (note,) if n),
        )

    # --- up -----------------------------------------------------------------

    def up(
        self,
        settings: InfraSettings,
        bundle: dict[str, Path],
        *,
        run_id: str = "",
        minutes: float | None = None,
        on_step: StepHook | None = None,
    ) -> ClusterHandle:
        missing = [n for n in BUNDLE_NAMES if n not in bundle]
        if missing:
            raise InfraError(f"bundle: missing {missing[0]!r}")
        minutes = float(minutes if minutes is not None else settings.max_duration_min)
        plan = self.plan(settings, max(0.0, minutes - cost.BOOT_MINUTES), run_id)
        cost.guard(plan, settings)
        run_id = plan.run_id
        step = on_step or (lambda name: None)
        try:
            return self._up(settings, bundle, run_id, minutes, step)
        except BaseException as exc:  # roll back whatever was made, Ctrl-C included
            try:
                self.down(run_id)
            except InfraError as cleanup:
                raise InfraError(
                    f"up {run_id} failed ({_api_error('up', exc)}) and so did the rollback "
                    f"({cleanup}); run `perfgate infra gc`"
                ) from exc
            if isinstance(exc, API_ERRORS):
                raise _api_error("up", exc) from exc
            raise

    def _up(
        self, settings: InfraSettings, bundle: dict[str, Path], run_id: str, minutes: float, step: StepHook
    ) -> ClusterHandle:
        expires, prefix = expiry(minutes), self.run_prefix(run_id)
        tags: list[TagTypeDef] = [
            {"Key": TAG_RUN, "Value": run_id},
            {"Key": TAG_EXPIRES, "Value": expires},
            {"Key": TAG_OWNER, "Value": settings.owner_tag},
        ]
        self.bucket.ensure()
        step("bucket")
        self.bucket.put_lease(run_id, expires)
        step("lease")
        urls = self.bucket.put_bundle(run_id, bundle, minutes)
        step("bundle")
        vpc, subnet = self._network(settings)
        groups = {
            role: self.ec2.create_security_group(
                GroupName=f"{run_id}-{role}",
                Description=f"perfgate {run_id} {role}",
                VpcId=vpc,
                TagSpecifications=[_tag_spec("security-group", tags + [{"Key": TAG_ROLE, "Value": role}])],
            )["GroupId"]
            for role in ROLES
        }
        step("security-groups")
        self._rules(settings, groups)
        step("rules")
        nodes = self._launch(settings, run_id, tags, groups, subnet, urls, bundle["wheel"].name, minutes, prefix)
        step("instances")
        ids = [n.instance_id for n in nodes]
        self.ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig=WAIT)
        nodes = self._describe_nodes(run_id)
        step("running")
        return ClusterHandle(
            run_id, settings.bucket, prefix, expires, tuple(nodes), tuple(groups.values()), {"groups": groups}
        )

    def _network(self, settings: InfraSettings) -> tuple[str, str]:
        if settings.subnet:
            sub = self.ec2.describe_subnets(SubnetIds=[settings.subnet])["Subnets"][0]
            return sub["VpcId"], sub["SubnetId"]
        vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise InfraError("subnet: this region has no default VPC; set subnet in perfgate-infra.toml")
        return vpcs[0]["VpcId"], ""

    def _rules(self, settings: InfraSettings, groups: dict[str, str]) -> None:
        """Least privilege: workers reach the master's port and the targets' ports; HTTPS out; nothing else."""
        ports = (settings.target_port, settings.target_port + PORT_SPAN - 1)

        def pair(group: str, low: int, high: int) -> IpPermissionTypeDef:
            return {"IpProtocol": "tcp", "FromPort": low, "ToPort": high, "UserIdGroupPairs": [{"GroupId": group}]}

        https: IpPermissionTypeDef = {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": settings.egress_cidr, "Description": "S3 and PyPI"}],
        }
        master_port = settings.master_port
        self.ec2.authorize_security_group_ingress(
            GroupId=groups["master"], IpPermissions=[pair(groups["worker"], master_port, master_port)]
        )
        self.ec2.authorize_security_group_ingress(
            GroupId=groups["target"], IpPermissions=[pair(groups["worker"], *ports)]
        )
        everything: list[IpPermissionTypeDef] = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        for role, group in groups.items():
            self.ec2.revoke_security_group_egress(GroupId=group, IpPermissions=everything)
            extra: list[IpPermissionTypeDef] = (
                []
                if role != "worker"
                else [
                    pair(groups["master"], settings.master_port, settings.master_port),
                    pair(groups["target"], *ports),
                ]
            )
            self.ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[https, *extra])

    def _ami(self, instance_type: str) -> str:
        if self.settings.ami:
            return self.settings.ami
        arch = "arm64" if instance_type.split(".")[0].endswith("g") else "x86_64"
        if arch in self._amis:
            return self._amis[arch]
        try:
            self._amis[arch] = self.ssm.get_parameter(Name=AMI_PARAMETER.format(arch=arch))["Parameter"]["Value"]
            return self._amis[arch]
        except ClientError as exc:
            raise InfraError(f"ami: cannot resolve Amazon Linux 2023 from SSM ({exc}); set ami") from exc

    def _launch(
        self,
        settings: InfraSettings,
        run_id: str,
        tags: list[TagTypeDef],
        groups: dict[str, str],
        subnet: str,
        urls: dict[str, str],
        wheel_name: str,
        minutes: float,
        prefix: str,
    ) -> list[Node]:
        nodes: list[Node] = []
        deadline = expiry(minutes)
        for role in ROLES:
            count, itype = settings.counts()[role], settings.instance_type(role)
            user_data = render(
                [RoleRange(role, 0, count)],
                run_id=run_id,
                bucket=settings.bucket,
                run_prefix=prefix,
                region=settings.region,
                urls=urls,
                wheel_name=wheel_name,
                deadman_s=int(minutes * 60),
                deadline=deadline,
            )
            role_tags = tags + [{"Key": TAG_ROLE, "Value": role}, {"Key": "Name", "Value": f"{run_id}-{role}"}]
            kw: dict[str, Any] = {
                "ImageId": self._ami(itype),
                "InstanceType": itype,
                "MinCount": count,
                "MaxCount": count,
                "UserData": user_data,
                "SecurityGroupIds": [groups[role]],
                "InstanceInitiatedShutdownBehavior": "terminate",
                "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
                "TagSpecifications": [
                    {"ResourceType": "instance", "Tags": role_tags},
                    {"ResourceType": "volume", "Tags": role_tags},
                ],
            }
            if subnet:
                kw["SubnetId"] = subnet
            if settings.instance_profile:
                kw["IamInstanceProfile"] = {"Name": settings.instance_profile}
            for inst in self.ec2.run_instances(**kw)["Instances"]:
                nodes.append(Node(inst["InstanceId"], role, int(inst.get("AmiLaunchIndex", 0))))
        return nodes

    # --- inspect --------------------------------------------------------------

    def _instances(self, filters: list[FilterTypeDef]) -> list[InstanceTypeDef]:
        out: list[InstanceTypeDef] = []
        for page in self.ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                out.extend(reservation["Instances"])
        return out

    def _describe_nodes(self, run_id: str) -> list[Node]:
        nodes = []
        for inst in self._instances([{"Name": f"tag:{TAG_RUN}", "Values": [run_id]}]):
            tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
            nodes.append(
                Node(
                    inst["InstanceId"],
                    tags.get(TAG_ROLE, ""),
                    int(inst.get("AmiLaunchIndex", 0)),
                    inst.get("PrivateIpAddress", ""),
                    inst["State"]["Name"],
                )
            )
        return sorted(nodes, key=lambda n: (ROLES.index(n.role) if n.role in ROLES else 9, n.index))

    def nodes(self, run_id: str) -> list[Node]:
        return self._describe_nodes(run_id)

    def _groups(self, run_id: str | None = None) -> list[SecurityGroupTypeDef]:
        values = [run_id] if run_id else ["*"]
        pages = self.ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": f"tag:{TAG_RUN}", "Values": values}]
        )
        return [g for page in pages for g in page["SecurityGroups"]]

    def status(self) -> list[RunStatus]:
        try:
            runs: dict[str, dict[str, Any]] = {}
            for inst in self._instances([{"Name": "tag-key", "Values": [TAG_RUN]}]):
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                run = runs.setdefault(
                    tags[TAG_RUN],
                    {"owner": tags.get(TAG_OWNER, ""), "expires": tags.get(TAG_EXPIRES, ""), "states": Counter()},
                )
                run["states"][inst["State"]["Name"]] += 1
            groups = Counter(next(t["Value"] for t in g.get("Tags", []) if t["Key"] == TAG_RUN) for g in self._groups())
            out = []
            leased = {r for r in self.bucket.run_ids() if self.bucket.lease(r)}
            for run_id in sorted(set(runs) | set(groups) | leased):
                run = runs.get(run_id) or {"states": Counter(), **self.bucket.lease(run_id)}
                keys = self.bucket.objects(run_id)
                ready = sum(1 for k in keys if "/nodes/" in k)
                out.append(
                    RunStatus(
                        run_id,
                        run.get("owner", ""),
                        run.get("expires", ""),
                        dict(run["states"]),
                        groups.get(run_id, 0),
                        len(keys),
                        ready,
                    )
                )
            return out
        except API_ERRORS as exc:
            raise _api_error("status", exc) from exc

    # --- teardown -------------------------------------------------------------

    def down(self, run_id: str) -> Reaped:
        try:
            return self._down(run_id)
        except API_ERRORS as exc:
            raise _api_error(f"down {run_id}", exc) from exc

    def _down(self, run_id: str) -> Reaped:
        live = [
            i["InstanceId"]
            for i in self._instances([{"Name": f"tag:{TAG_RUN}", "Values": [run_id]}])
            if i["State"]["Name"] not in ("terminated", "shutting-down")
        ]
        if live:
            self.ec2.terminate_instances(InstanceIds=live)
        every = [i["InstanceId"] for i in self._instances([{"Name": f"tag:{TAG_RUN}", "Values": [run_id]}])]
        if every:
            self.ec2.get_waiter("instance_terminated").wait(InstanceIds=every, WaiterConfig=WAIT)
        groups = self._groups(run_id)
        for group in groups:  # drop cross-references first, or the groups cannot be deleted
            if group.get("IpPermissions"):
                self.ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
            if group.get("IpPermissionsEgress"):
                self.ec2.revoke_security_group_egress(
                    GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"]
                )
        for group in groups:
            self._delete_group(group["GroupId"])
        return Reaped(len(live), len(groups), self.bucket.delete_run(run_id))

    def _delete_group(self, group_id: str) -> None:
        for attempt in range(30):  # network interfaces of terminated instances linger for a while
            try:
                self.ec2.delete_security_group(GroupId=group_id)
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code == "InvalidGroup.NotFound":
                    return
                if code != "DependencyViolation" or attempt == 29:
                    raise
                time.sleep(min(2.0 * (attempt + 1), 10.0))

    def gc(self, now: datetime | None = None) -> Reaped:
        """Reap every perfgate run whose expiry has passed: its instances, security groups and S3
        prefix. Only what perfgate made counts: instances and groups tagged with a cluster run id
        and an expiry, and S3 prefixes holding perfgate's lease for that run id (see :meth:`RunBucket.lease`)."""
        stamp = iso(now or utcnow())
        try:
            expired: set[str] = set()
            tagged = [*self._instances([{"Name": "tag-key", "Values": [TAG_RUN]}]), *self._groups()]
            for resource in tagged:
                tags = {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
                run_id, expires = tags.get(TAG_RUN, ""), tags.get(TAG_EXPIRES, "")
                if is_cluster_run_id(run_id) and is_expiry(expires) and expires < stamp:
                    expired.add(run_id)
            for run_id in self.bucket.run_ids():
                lease = self.bucket.lease(run_id)
                if lease and lease["expires"] < stamp:
                    expired.add(run_id)
        except API_ERRORS as exc:
            raise _api_error("gc", exc) from exc
        total = Reaped()
        for run_id in sorted(expired):
            total = total + self.down(run_id)
        return total
