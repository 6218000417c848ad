"""``perfgate hook``: install or remove the git hooks that time every commit (see :mod:`perfgate.hooks`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from perfgate import gitops, hooks
from perfgate.commands._common import RichProgress, print_verdict
from perfgate.model import Verdict
from perfgate.outcome import Outcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = actions.add_parser(
        "install",
        help="install a hook (post-commit unless --pre-push)",
        description="Install perfgate's hook; an existing hook is chained, not replaced.",
    )
    install.add_argument("--post-commit", action="store_true", help="time each commit in the background")
    install.add_argument("--pre-push", action="store_true", help="gate pushes; a regression blocks the push")
    _settings_arguments(install)
    install.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")

    uninstall = actions.add_parser("uninstall", help="remove perfgate's hooks and restore chained ones")
    uninstall.add_argument("--post-commit", action="store_true", help="only the post-commit hook")
    uninstall.add_argument("--pre-push", action="store_true", help="only the pre-push hook")
    uninstall.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")

    show = actions.add_parser("status", help="which hooks are installed, and where the log is")
    show.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: .)")

    run = actions.add_parser("run", help="what an installed hook runs (not meant to be typed)")
    run.add_argument("hook", choices=hooks.HOOKS)
    run.add_argument("--repo", type=Path, required=True)
    run.add_argument("--sha", help="post-commit: the new commit")
    _settings_arguments(run)
    run.add_argument("--remote", default="origin", help="pre-push: the remote's name, as git passes it")


def _settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default="quick",
        choices=sorted(hooks.PROFILES),
        help="pairs of rounds per hook gate: quick (3 planned pairs, budget 5) or default "
        "(the config's [rounds] count and max)",
    )
    parser.add_argument("--config", type=Path, help="perfgate.toml for the hook's gates (default: the repo's)")
    parser.add_argument(
        "--no-block", dest="block", action="store_false", help="pre-push: report a regression but let the push through"
    )


def _chosen(args: argparse.Namespace) -> tuple[str, ...]:
    chosen = tuple(h for h, flag in (("post-commit", args.post_commit), ("pre-push", args.pre_push)) if flag)
    return chosen


def run(args: argparse.Namespace, console: Console) -> Outcome:
    out = Console(highlight=False)
    if args.action == "install":
        config = args.config.resolve() if args.config else None
        settings = hooks.HookSettings(profile=args.profile, config=config, block=args.block)
        for hook in _chosen(args) or ("post-commit",):
            done = hooks.install(args.repo, hook, settings)
            chained = f"; chains your existing hook, now {done.chained.name}" if done.chained else ""
            out.print(f"installed {hook} hook: {done.path}{chained}", markup=False)
        repo = gitops.open_repo(args.repo)
        out.print(f"hook log: {hooks.log_path(repo)}", markup=False)
        return Outcome.OK
    if args.action == "uninstall":
        removed = hooks.uninstall(args.repo, _chosen(args) or hooks.HOOKS)
        for item in removed:
            restored = " (your chained hook is back in place)" if item.chained else ""
            out.print(f"removed {item.hook} hook: {item.path}{restored}", markup=False)
        if not removed:
            out.print("no perfgate hook was installed", markup=False)
        return Outcome.OK
    if args.action == "status":
        for hook, state in hooks.status(args.repo).items():
            out.print(f"{hook}: {state}", markup=False)
        out.print(f"hook log: {hooks.log_path(gitops.open_repo(args.repo))}", markup=False)
        return Outcome.OK
    return _run_hook(args, console)


def _run_hook(args: argparse.Namespace, console: Console) -> Outcome:
    settings = hooks.HookSettings(profile=args.profile, config=args.config, block=args.block)
    if args.hook == "post-commit":
        if not args.sha:
            from perfgate.errors import ConfigError

            raise ConfigError("hook run post-commit: --sha is required")
        return hooks.run_post_commit(args.repo, args.sha, settings)
    remote = args.remote

    def report(verdict: Verdict) -> None:
        print_verdict(console, verdict)

    with RichProgress(console) as progress:
        return hooks.run_pre_push(args.repo, remote, sys.stdin.read(), settings, report, progress)
