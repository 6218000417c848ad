"""Cost guard: a small on-demand price table, caps, and the account's vCPU quota.

Prices are us-east-1 Linux on-demand list prices (USD/hour) as published by
AWS in 2025; other regions differ by up to ~30%. Override any of them with
``prices`` in ``perfgate-infra.toml``. The guard is deliberately conservative:
a run is refused before anything is launched.
"""

from __future__ import annotations

from typing import Any

from perfgate.cluster.base import ROLES, ClusterPlan, InfraSettings, PlanRow
from perfgate.errors import InfraError

#: instance type -> (vCPUs, USD per hour)
PRICE_TABLE: dict[str, tuple[int, float]] = {
    "t3.micro": (2, 0.0104),
    "t3.small": (2, 0.0208),
    "t3.medium": (2, 0.0416),
    "t3.large": (2, 0.0832),
    "c6i.large": (2, 0.085),
    "c6i.xlarge": (4, 0.17),
    "c6i.2xlarge": (8, 0.34),
    "c7i.large": (2, 0.0893),
    "c7i.xlarge": (4, 0.1785),
    "c7i.2xlarge": (8, 0.357),
    "c7g.large": (2, 0.0725),
    "c7g.xlarge": (4, 0.145),
    "m6i.large": (2, 0.096),
    "m6i.xlarge": (4, 0.192),
    "m7i.large": (2, 0.1008),
    "m7i.xlarge": (4, 0.2016),
}
#: Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances, in vCPUs.
VCPU_QUOTA = ("ec2", "L-1216C47A")
#: Minutes a node needs to boot, install and report ready, added to every estimate.
BOOT_MINUTES = 4.0


def price(settings: InfraSettings, instance_type: str) -> tuple[int, float]:
    vcpus, usd = PRICE_TABLE.get(instance_type, (0, 0.0))
    usd = float(settings.prices.get(instance_type, usd))
    if not usd:
        raise InfraError(
            f"{instance_type}: no price known for this instance type; add it under prices in perfgate-infra.toml"
        )
    return vcpus or 2, usd


def rows(settings: InfraSettings) -> tuple[PlanRow, ...]:
    out = []
    for role in ROLES:
        count = settings.counts()[role]
        vcpus, usd = price(settings, settings.instance_type(role))
        out.append(PlanRow(role, settings.instance_type(role), count, vcpus * count, usd * count))
    return tuple(out)


def estimate(settings: InfraSettings, run_id: str, rounds_minutes: float) -> ClusterPlan:
    """The plan's rows and costs, with the caps as limits (quota filled in by the backend)."""
    plan_rows = rows(settings)
    hourly = sum(r.usd_per_hour for r in plan_rows)
    minutes = BOOT_MINUTES + rounds_minutes
    limits = {
        "instances": f"{sum(r.count for r in plan_rows)} of max_instances {settings.max_instances}",
        "hourly cost": f"${hourly:.3f} of max_hourly_usd ${settings.max_hourly_usd:.2f}",
        "duration": f"{minutes:.0f} min of max_duration_min {settings.max_duration_min:g} "
        f"(nodes power off by themselves after it)",
    }
    return ClusterPlan(run_id, plan_rows, hourly, minutes, hourly * minutes / 60.0, limits)


def guard(plan: ClusterPlan, settings: InfraSettings) -> None:
    """Refuse a plan beyond the caps; every message names the key to raise."""
    if plan.instances > settings.max_instances:
        raise InfraError(
            f"max_instances: the plan needs {plan.instances} instances, the cap is {settings.max_instances}"
        )
    if plan.usd_per_hour > settings.max_hourly_usd:
        raise InfraError(
            f"max_hourly_usd: the plan costs ${plan.usd_per_hour:.3f}/h, the cap is ${settings.max_hourly_usd:.2f}/h"
        )
    if plan.est_minutes > settings.max_duration_min:
        raise InfraError(
            f"max_duration_min: the run needs about {plan.est_minutes:.0f} min, the cap is "
            f"{settings.max_duration_min:g} min"
        )


def check_vcpu_quota(quotas: Any, ec2: Any, plan: ClusterPlan) -> tuple[str, str]:
    """Compare planned + running vCPUs with the account's quota: (limit text, note).

    Raises :class:`InfraError` when the quota is known and would be exceeded; where
    the API cannot tell (no permission, or an endpoint without EC2 quotas), it
    returns a note saying the check was skipped, so ``plan`` can show it.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    wanted = sum(r.vcpus for r in plan.rows)
    try:
        quota = float(quotas.get_service_quota(ServiceCode=VCPU_QUOTA[0], QuotaCode=VCPU_QUOTA[1])["Quota"]["Value"])
    except (ClientError, BotoCoreError) as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        return (
            f"{wanted} vCPUs, quota not checked",
            f"vCPU quota not checked: service-quotas GetServiceQuota {VCPU_QUOTA[1]} failed ({code}); "
            f"check 'Running On-Demand Standard instances' in the console",
        )
    running = 0
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for inst in reservation["Instances"]:
                running += PRICE_TABLE.get(inst["InstanceType"], (2, 0.0))[0]
    if running + wanted > quota:
        raise InfraError(
            f"vCPU quota: {running} running + {wanted} planned vCPUs exceed the account's "
            f"quota of {quota:g} ({VCPU_QUOTA[1]}); request an increase or lower workers"
        )
    return f"{running} running + {wanted} planned of {quota:g} vCPUs", ""
