"""``perfgate ci``: the gate as a CI step; baseline = merge-base with the target branch.

Revisions come from flags, else from the CI environment. On GitHub Actions
(``pull_request`` / ``pull_request_target`` events): the candidate is the pull
request's head commit (``pull_request.head.sha`` in ``$GITHUB_EVENT_PATH``, else
``origin/$GITHUB_HEAD_REF``, else ``HEAD``) and the baseline is its merge-base
with ``origin/$GITHUB_BASE_REF``, so the gate times exactly the pull request's
own changes. The checkout needs that history (``fetch-depth: 0``).

Outputs in ``--out`` (default ``perfgate-report``): ``report.html`` (also kept
as ``<run_id>.html``), ``summary.md`` (the PR comment), ``junit.xml`` and
``verdict.json``. On GitHub Actions the summary is appended to the job summary
and ``verdict``, ``exit-code``, ``run-id`` and ``report`` are set as step outputs; each regressed
metric is an ``::error`` annotation and each inconclusive one a ``::warning``.
Exit codes are the gate's: 0 pass, 1 regression, 2 inconclusive, 3 error.
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import git
from rich.console import Console

from perfgate import gitops
from perfgate.commands._common import (
    ReportRequest,
    RichProgress,
    add_gate_arguments,
    check_gate_arguments,
    gate_options,
    open_project,
    print_verdict,
    publish,
)
from perfgate.errors import ConfigError, RevisionError
from perfgate.gate import run_gate
from perfgate.github import workflow_annotations, workflow_event
from perfgate.outcome import EXIT_CODES, Outcome, gate_outcome


@dataclass(frozen=True)
class CiRevisions:
    baseline: str
    candidate: str
    how: str  # how they were chosen, for the log


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", help="baseline revision (default: merge-base of the candidate with the target)")
    parser.add_argument("--head", help="candidate revision (default: the PR head from the CI environment, else HEAD)")
    parser.add_argument("--target-branch", help="branch the change goes into (default: $GITHUB_BASE_REF)")
    parser.add_argument("--remote", default="origin", help="remote holding the target branch (default: origin)")
    parser.add_argument("--artifact-url", help="where the HTML report will be published (linked from summary.md)")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")
    add_gate_arguments(parser)


def _event_head(environ: dict[str, str]) -> str | None:
    head = (workflow_event(environ).get("pull_request") or {}).get("head") or {}
    return head.get("sha") if isinstance(head, dict) else None


def _first_resolvable(repo: git.Repo, revs: list[str]) -> str | None:
    for rev in revs:
        try:
            return repo.commit(rev).hexsha
        except (ValueError, git.BadName, git.GitCommandError):
            continue
    return None


def ci_revisions(
    repo: git.Repo, *, base: str | None, head: str | None, target: str | None, remote: str, environ: dict[str, str]
) -> CiRevisions:
    """Pick the baseline and candidate from flags, else the GitHub Actions environment."""
    if head:
        candidate, how = gitops.resolve(repo, head).sha, f"candidate --head {head}"
    else:
        event_head = _event_head(environ)
        head_ref = environ.get("GITHUB_HEAD_REF")
        tries = [event_head] if event_head else []
        tries += [f"{remote}/{head_ref}", head_ref] if head_ref else []
        found = _first_resolvable(repo, tries)
        candidate, how = (
            (found, "candidate = the pull request head")
            if found
            else (gitops.resolve(repo, "HEAD").sha, "candidate = HEAD")
        )
    if base:
        return CiRevisions(gitops.resolve(repo, base).sha, candidate, f"{how}; baseline --base {base}")
    target = target or environ.get("GITHUB_BASE_REF")
    if not target:
        raise ConfigError(
            "perfgate ci: no baseline: pass --base or --target-branch "
            "(or run on a pull_request event, which sets $GITHUB_BASE_REF)"
        )
    tip = _first_resolvable(repo, [f"{remote}/{target}", target])
    if tip is None:
        raise RevisionError(
            f"target branch {target!r} not found (as {remote}/{target} or {target}); "
            "fetch it, e.g. actions/checkout with fetch-depth: 0"
        )
    try:
        merge_base = repo.git.merge_base(candidate, tip).strip()
    except git.GitCommandError as exc:
        raise RevisionError(
            f"no merge-base between the candidate and {target!r} (shallow clone? use fetch-depth: 0)"
        ) from exc
    return CiRevisions(merge_base, candidate, f"{how}; baseline = merge-base with {target}")


def _github_outputs(environ: dict[str, str], values: dict[str, str], summary: Path) -> None:
    if environ.get("GITHUB_OUTPUT"):
        with open(environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
            handle.writelines(f"{k}={v}\n" for k, v in values.items())
    if environ.get("GITHUB_STEP_SUMMARY"):
        with open(environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(summary.read_text(encoding="utf-8") + "\n")


def run(args: argparse.Namespace, console: Console) -> Outcome:
    check_gate_arguments(args)
    environ = dict(os.environ)
    project = open_project(args)
    repo, root, config = project.repo, project.root, project.config
    revisions = ci_revisions(
        repo, base=args.base, head=args.head, target=args.target_branch, remote=args.remote, environ=environ
    )
    out_dir = (args.out or Path("perfgate-report")).resolve()
    summary = args.markdown or out_dir / "summary.md"
    reports = ReportRequest(
        out_dir, summary, args.junit or out_dir / "junit.xml", args.json_path or out_dir / "verdict.json"
    )
    console.print(f"perfgate ci: {revisions.how}: {revisions.baseline[:10]} → {revisions.candidate[:10]}", markup=False)
    options = gate_options(args, revisions.baseline, revisions.candidate)
    with RichProgress(console, quiet=args.quiet) as progress:
        result = run_gate(config, root, options, progress)
    published = publish(result, config, reports)
    warnings = [published.error] if published.error else []
    if args.artifact_url and not published.error:  # re-render the summary with the published report's link
        from perfgate.report import write_reports
        from perfgate.store import open_store

        write_reports(
            open_store(config.store, config.root),
            result.run_id,
            out_dir,
            markdown=summary,
            artifact_url=args.artifact_url,
        )
    try:
        if published.reports.html is not None:
            shutil.copyfile(published.reports.html, out_dir / "report.html")
    except OSError as exc:  # the verdict stands: a missing report must not turn a regression into "error"
        warnings.append(f"{out_dir / 'report.html'}: cannot write: {exc.strerror or exc}")
    print_verdict(Console(highlight=False), result.verdict, out_dir / "report.html")
    for warning in warnings:
        console.print(f"perfgate: warning: {warning}", style="yellow", markup=False, soft_wrap=True)
    outcome = gate_outcome(result.verdict.state, args.inconclusive or config.judge.inconclusive)
    if environ.get("GITHUB_ACTIONS") == "true":  # regressions and inconclusive metrics, on the PR's checks
        for line in workflow_annotations(result.verdict):
            print(line, flush=True)
    _github_outputs(
        environ,
        {
            "verdict": result.verdict.state.value,
            "exit-code": str(EXIT_CODES[outcome]),
            "run-id": result.run_id,
            "report": str(out_dir / "report.html"),
        },
        summary,
    )
    return outcome
