"""GitHub at the edge of a CI step: the one pull-request comment per workflow and config,
updated in place, and workflow-command annotations. The REST API is spoken with the
standard library (``$GITHUB_API_URL``, ``$GITHUB_TOKEN``), so nothing else is installed."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfgate.errors import ConfigError, GitHubError
from perfgate.formatting import change_with_ci, reason_text
from perfgate.model import State, Verdict

API_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PullRequest:
    repository: str  # owner/name
    number: int
    fork: bool  # from another repository: its token cannot write comments


def workflow_event(environ: Mapping[str, str]) -> dict[str, Any]:
    """The event that started this workflow run (``$GITHUB_EVENT_PATH``); {} outside Actions."""
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"$GITHUB_EVENT_PATH {path}: unreadable: {exc}") from exc
    return event if isinstance(event, dict) else {}


def pull_request(environ: Mapping[str, str]) -> PullRequest | None:
    """The pull request of this workflow run, or None for other events."""
    pr = workflow_event(environ).get("pull_request")
    if not isinstance(pr, dict) or not isinstance(pr.get("number"), int):
        return None
    base = ((pr.get("base") or {}).get("repo") or {}).get("full_name") or environ.get("GITHUB_REPOSITORY", "")
    head = ((pr.get("head") or {}).get("repo") or {}).get("full_name") or base
    return PullRequest(repository=base, number=pr["number"], fork=head != base)


def marker(workflow: str, config: str) -> str:
    """The hidden line that makes a comment ours: one per workflow and config."""
    key = re.sub(r"[^A-Za-z0-9_./:-]+", "_", f"{workflow}:{config}")[:200]
    return f"<!-- perfgate-comment {key} -->"


class Api:
    """The few REST calls the comment needs, with a token, against ``base_url``."""

    def __init__(self, base_url: str, token: str):
        self.base_url, self.token = base_url.rstrip("/"), token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[Any, str]:
        """The decoded JSON answer and its ``Link`` header."""
        url = path if path.startswith("http") else self.base_url + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the API URL as given
        try:
            with opener.open(request, timeout=API_TIMEOUT_S) as response:
                return json.loads(response.read() or b"null"), response.headers.get("Link", "")
        except urllib.error.HTTPError as exc:
            raise GitHubError(f"{method} {url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise GitHubError(f"{method} {url}: {exc}") from exc

    def pages(self, path: str) -> Iterable[Any]:
        """Every item of a paginated listing, following ``Link: <…>; rel="next"``."""
        url: str | None = path
        while url:
            items, link = self.call("GET", url)
            yield from items or []
            found = re.search(r'<([^>]+)>;\s*rel="next"', link)
            url = found.group(1) if found else None


def upsert_comment(api: Api, pr: PullRequest, body: str, mark: str) -> tuple[str, int]:
    """Create the pull request's comment carrying ``mark``, or update it in place:
    ("created" | "updated", comment id)."""
    text = f"{mark}\n{body}"
    for comment in api.pages(f"/repos/{pr.repository}/issues/{pr.number}/comments?per_page=100"):
        if isinstance(comment, dict) and mark in str(comment.get("body", "")):
            api.call("PATCH", f"/repos/{pr.repository}/issues/comments/{comment['id']}", {"body": text})
            return "updated", int(comment["id"])
    created, _ = api.call("POST", f"/repos/{pr.repository}/issues/{pr.number}/comments", {"body": text})
    return "created", int(created["id"])


def _escape(text: str, property_value: bool = False) -> str:
    """Workflow-command escaping (``%``, CR, LF; ``:`` and ``,`` too in properties)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


def workflow_annotations(verdict: Verdict, limit: int = 10) -> list[str]:
    """``::error`` per regressed metric and ``::warning`` per inconclusive one (the first ``limit``)."""
    lines: list[str] = []
    for m in verdict.metrics:
        kind = {State.REGRESSION: "error", State.INCONCLUSIVE: "warning"}.get(m.verdict)
        if kind is None or len(lines) >= limit:
            continue
        title = _escape(f"perfgate {m.verdict.value}: {m.name} {m.metric}", property_value=True)
        lines.append(f"::{kind} title={title}::{_escape(f'{change_with_ci(m)} — {reason_text(m)}')}")
    return lines
