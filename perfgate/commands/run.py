"""``perfgate run``: measure the baseline and the candidate and give a verdict."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from perfgate import gitops
from perfgate.commands._common import (
    Published,
    RichProgress,
    add_gate_arguments,
    gate_options,
    open_project,
    print_verdict,
    publish,
    report_request,
)
from perfgate.gate import GateResult, run_gate
from perfgate.outcome import Outcome, gate_outcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", default="HEAD~1", help="baseline revision (default: HEAD~1)")
    parser.add_argument(
        "--candidate",
        default="HEAD",
        help=f"candidate revision (default: HEAD, from a clean worktree like the baseline; "
        f"{gitops.WORKTREE}: the working tree as it is, uncommitted changes included, marked dirty)",
    )
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    parser.add_argument(
        "--infra", choices=["ec2", "local-cloud"], help="run the rounds on a provisioned cluster (see infra/README.md)"
    )
    parser.add_argument("--infra-config", type=Path, help="cluster settings (default: perfgate-infra.toml)")
    add_gate_arguments(parser)


def run(args: argparse.Namespace, console: Console) -> Outcome:
    project = open_project(args)
    root, config = project.root, project.config
    options = gate_options(args, args.baseline, args.candidate)
    with RichProgress(console, quiet=args.quiet) as progress:
        if args.infra:
            from perfgate.cluster import load_settings, run_gate_on_cluster

            settings = load_settings(args.infra_config or root / "perfgate-infra.toml")
            result = run_gate_on_cluster(config, root, options, settings, backend=args.infra, progress=progress)
        else:
            result = run_gate(config, root, options, progress)
    return finish(result, publish(result, config, report_request(args)), args, config.judge.inconclusive)


def finish(result: GateResult, published: Published, args: argparse.Namespace, policy: str) -> Outcome:
    """Print the verdict (and a warning if its reports could not be written); the verdict's outcome."""
    print_verdict(Console(highlight=False), result.verdict, published.reports.html)
    if published.error:
        Console(stderr=True, highlight=False).print(
            f"perfgate: warning: {published.error}", style="yellow", markup=False, soft_wrap=True
        )
    return gate_outcome(result.verdict.state, args.inconclusive or policy)
