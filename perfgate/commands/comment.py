"""``perfgate comment``: keep one pull-request comment per workflow and config, updated in
place, from ``perfgate ci``'s summary (GitHub Actions; the reusable action calls it)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from perfgate.errors import ConfigError
from perfgate.github import Api, marker, pull_request, upsert_comment
from perfgate.outcome import Outcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--summary", type=Path, required=True, help="the markdown to post (perfgate ci's summary.md)")
    parser.add_argument("--artifact-url", help="the uploaded HTML report, linked under the summary")
    parser.add_argument(
        "--key", default="perfgate.toml", help="which config the comment is for (default: perfgate.toml)"
    )


def run(args: argparse.Namespace, console: Console) -> Outcome:
    environ = dict(os.environ)
    try:
        body = args.summary.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--summary {args.summary}: cannot read: {exc.strerror or exc}") from exc
    if args.artifact_url:
        body += f"\n📦 [HTML report (artifact)]({args.artifact_url})\n"
    pr = pull_request(environ)
    out = Console(highlight=False)
    if pr is None:
        out.print("perfgate comment: not a pull-request event; no comment", markup=False)
        return Outcome.OK
    token = environ.get("GITHUB_TOKEN", "")
    if pr.fork or not token:
        why = "from a fork, whose token cannot write comments" if pr.fork else "no GITHUB_TOKEN"
        out.print(f"perfgate comment: pull request #{pr.number} is {why}; skipped (the check still counts)")
        return Outcome.OK
    api = Api(environ.get("GITHUB_API_URL", "https://api.github.com"), token)
    done, comment_id = upsert_comment(api, pr, body, marker(environ.get("GITHUB_WORKFLOW", ""), args.key))
    out.print(f"perfgate comment: {done} comment {comment_id} on {pr.repository}#{pr.number}", markup=False)
    return Outcome.OK
