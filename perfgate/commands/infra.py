"""``perfgate infra plan|up|status|down|gc``: the cluster that ``perfgate run --infra ec2`` uses.

Settings come from ``perfgate-infra.toml`` in the repository (all keys optional,
see :class:`perfgate.cluster.base.InfraSettings`) and these flags. AWS
credentials and the endpoint come from boto3's usual chain (``AWS_PROFILE``,
``AWS_ENDPOINT_URL`` ...).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from perfgate import gitops
from perfgate.cluster.base import INFRA_FILE, ClusterPlan, InfraSettings, load_settings
from perfgate.commands._args import check_option
from perfgate.errors import ConfigError, PerfgateError
from perfgate.outcome import Outcome

ACTIONS = ("plan", "up", "status", "down", "gc")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=ACTIONS,
        help="plan: show instances, cost and limits; up: launch; "
        "status: list runs; down RUN_ID: tear one down; gc: reap every expired run",
    )
    parser.add_argument("run_id", nargs="?", help="the cluster run id (for down)")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    parser.add_argument("--infra-config", type=Path, help=f"settings file (default: REPO/{INFRA_FILE})")
    parser.add_argument(
        "--backend",
        choices=("ec2", "local"),
        default="ec2",
        help="ec2 (default; moto too, through AWS_ENDPOINT_URL) or local (this machine)",
    )
    parser.add_argument("--region")
    parser.add_argument("--bucket")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--owner")
    parser.add_argument("--minutes", type=float, help="for up: how long the cluster may live (dead-man timer)")
    parser.add_argument("--baseline", default="HEAD~1", help="for up: baseline revision (default: HEAD~1)")
    parser.add_argument("--candidate", default=gitops.WORKTREE, help="for up: candidate revision")
    parser.add_argument("--config", type=Path, help="perfgate.toml (default: search the repo)")


def settings_from(args: argparse.Namespace) -> InfraSettings:
    path = args.infra_config or (args.repo / INFRA_FILE)
    if args.infra_config and not args.infra_config.is_file():
        raise ConfigError(f"--infra-config: {args.infra_config} not found")
    return load_settings(
        path, {"region": args.region, "bucket": args.bucket, "workers": args.workers, "owner": args.owner}
    )


def _cluster(backend: str, settings: InfraSettings) -> Any:
    if backend == "local":
        from perfgate.cluster.local import LocalCluster

        return LocalCluster()
    from perfgate.cluster.ec2 import Ec2Cluster

    return Ec2Cluster(settings)


def _rounds_minutes(args: argparse.Namespace) -> float:
    from perfgate.cluster.remote import estimate_minutes
    from perfgate.config import load_config

    try:
        return estimate_minutes(load_config(args.config, directory=args.repo))
    except PerfgateError:
        return 30.0


def print_plan(console: Console, plan: ClusterPlan) -> None:
    table = Table(title=f"cluster plan {plan.run_id}")
    for column in ("role", "instance type", "count", "vCPUs", "$/hour"):
        table.add_column(column, justify="left" if column in ("role", "instance type") else "right")
    for row in plan.rows:
        table.add_row(row.role, row.instance_type, str(row.count), str(row.vcpus), f"{row.usd_per_hour:.4f}")
    console.print(table)
    console.print(
        f"{plan.instances} instances: ${plan.usd_per_hour:.3f}/hour; about {plan.est_minutes:.0f} min "
        f"per run = ${plan.usd_per_run:.3f} per run (on-demand list prices, EBS and transfer excluded)"
    )
    for key, value in plan.limits.items():
        console.print(f"  limit {key}: {value}", markup=False)
    for note in plan.notes:
        console.print(f"  note: {note}", style="yellow", markup=False)


def run(args: argparse.Namespace, console: Console) -> Outcome:
    check_option("--minutes", args.minutes, low=1)  # 0 or less would read as "the default"
    check_option("--workers", args.workers, low=1)
    out = Console(highlight=False)
    settings = settings_from(args)
    cluster = _cluster(args.backend, settings)
    if args.action == "plan":
        print_plan(out, cluster.plan(settings, _rounds_minutes(args)))
    elif args.action == "up":
        out.print(
            f"up {_up(args, cluster, settings).run_id}: nodes power off by themselves at the expiry; "
            f"`perfgate infra down RUN_ID` ends it sooner",
            markup=False,
        )
    elif args.action == "status":
        _status(out, cluster)
    elif args.action == "down":
        if not args.run_id:
            raise ConfigError("infra down: give the RUN_ID (see `perfgate infra status`)")
        reaped = cluster.down(args.run_id)
        out.print(
            f"down {args.run_id}: {reaped.instances} instances, {reaped.security_groups} security groups, "
            f"{reaped.objects} S3 objects removed",
            markup=False,
        )
    else:
        reaped = cluster.gc()
        out.print(
            f"gc: {reaped.instances} instances, {reaped.security_groups} security groups, "
            f"{reaped.objects} S3 objects of expired runs removed",
            markup=False,
        )
    return Outcome.OK


def _up(args: argparse.Namespace, cluster: Any, settings: InfraSettings) -> Any:
    from perfgate.cluster.bundle import make_bundle
    from perfgate.cluster.remote import teardown_on_signals
    from perfgate.config import load_config

    repo = gitops.open_repo(args.repo)
    revisions = {"baseline": gitops.resolve(repo, args.baseline), "candidate": gitops.resolve(repo, args.candidate)}
    payload: dict[str, Any] = {
        "master_port": settings.master_port,
        "workers": settings.workers,
        "targets": settings.targets,
        "expect_timeout": 120.0,
    }
    try:
        payload["target"] = asdict(load_config(args.config, directory=args.repo).target)
    except PerfgateError as exc:
        raise ConfigError(f"infra up needs the perfgate config for the target: {exc}") from exc
    minutes = args.minutes or settings.max_duration_min
    with tempfile.TemporaryDirectory(prefix="perfgate-bundle-") as tmp, teardown_on_signals():
        bundle = make_bundle(repo, revisions, payload, Path(tmp), gitops.repo_root(repo) / ".perfgate" / "cache")
        return cluster.up(settings, bundle, minutes=minutes)


def _status(out: Console, cluster: Any) -> None:
    runs = cluster.status()
    if not runs:
        out.print("no perfgate clusters")
        return
    table = Table(title="perfgate clusters")
    for column in ("run id", "owner", "expires", "instances", "SGs", "S3 objects", "ready"):
        table.add_column(column, no_wrap=column in ("run id", "expires"))
    for run in runs:
        states = ", ".join(f"{n} {s}" for s, n in sorted(run.instances.items())) or "none"
        table.add_row(
            run.run_id, run.owner, run.expires, states, str(run.security_groups), str(run.objects), str(run.ready_nodes)
        )
    out.print(table)
