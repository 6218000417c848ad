"""``perfgate run``: measure the baseline and the candidate and give a verdict."""

from __future__ import annotations

import argparse
from dataclasses import replace
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
from perfgate.errors import ConfigError
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
    live = parser.add_argument_group("live targets (deployments perfgate does not start; [live] limits required)")
    live.add_argument(
        "--baseline-url", default="", help="the baseline deployment's URL (override [target] baseline_url)"
    )
    live.add_argument(
        "--candidate-url", default="", help="the candidate deployment's URL (override [target] candidate_url)"
    )
    live.add_argument(
        "--baseline-label", default="", help="the baseline's label (default: [target] version_path, else the URL)"
    )
    live.add_argument(
        "--candidate-label", default="", help="the candidate's label (default: [target] version_path, else the URL)"
    )
    add_gate_arguments(parser)


def run(args: argparse.Namespace, console: Console) -> Outcome:
    project = open_project(args)
    root, config = project.root, project.config
    options = replace(
        gate_options(args, args.baseline, args.candidate),
        baseline_url=_url("--baseline-url", args.baseline_url),
        candidate_url=_url("--candidate-url", args.candidate_url),
        baseline_label=args.baseline_label,
        candidate_label=args.candidate_label,
        live=True,
    )
    if args.infra and (options.baseline_url or options.candidate_url or config.target.live):
        raise ConfigError("--infra: live targets (deployment URLs) are gated from this machine, not from a cluster")
    with RichProgress(console, quiet=args.quiet) as progress:
        if args.infra:
            from perfgate.cluster import load_settings, run_gate_on_cluster

            settings = load_settings(args.infra_config or root / "perfgate-infra.toml")
            result = run_gate_on_cluster(config, root, options, settings, backend=args.infra, progress=progress)
        else:
            result = run_gate(config, root, options, progress)
    return finish(result, publish(result, config, report_request(args)), args, config.judge.inconclusive)


def _url(flag: str, url: str) -> str:
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{flag}: must be an http:// or https:// URL, not {url!r}")
    return url


def finish(result: GateResult, published: Published, args: argparse.Namespace, policy: str) -> Outcome:
    """Print the verdict (and a warning if its reports could not be written); the verdict's outcome."""
    print_verdict(Console(highlight=False), result.verdict, published.reports.html)
    if published.error:
        Console(stderr=True, highlight=False).print(
            f"perfgate: warning: {published.error}", style="yellow", markup=False, soft_wrap=True
        )
    return gate_outcome(result.verdict.state, args.inconclusive or policy)
