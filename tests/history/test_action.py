"""The reusable action (action.yml): its own steps run locally with the GitHub Actions
environment, against a fake GitHub REST API served over HTTP on loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from perfgate.github import marker, workflow_annotations
from perfgate.model import Basis, MetricComparison, Reason, Revision, State, Verdict

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"


class FakeGitHub:
    """Issue comments of one repository, and every request made, over real HTTP."""

    def __init__(self) -> None:
        self.comments: dict[int, dict] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, code: int, body: object, link: str = "") -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                if link:
                    self.send_header("Link", link)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict | None:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length)) if length else None

            def do_GET(self) -> None:  # noqa: N802
                fake.requests.append(("GET", self.path, None))
                if self.headers.get("Authorization") != "Bearer t0ken":
                    return self._answer(401, {"message": "Bad credentials"})
                found = re.search(r"[?&]page=(\d+)", self.path)
                page = int(found.group(1)) if found else 1
                items = sorted(fake.comments.values(), key=lambda c: c["id"])
                chunk = items[(page - 1) * 2 : page * 2]  # two per page: the client must follow Link
                link = ""
                if page * 2 < len(items):
                    following = f"http://{self.headers['Host']}/repos/o/r/issues/7/comments?per_page=2&page={page + 1}"
                    link = f'<{following}>; rel="next"'
                self._answer(200, chunk, link)

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                fake.requests.append(("POST", self.path, body))
                new = {"id": 1000 + len(fake.comments), "body": body["body"]}
                fake.comments[new["id"]] = new
                self._answer(201, new)

            def do_PATCH(self) -> None:  # noqa: N802
                body = self._body()
                fake.requests.append(("PATCH", self.path, body))
                comment_id = int(self.path.rsplit("/", 1)[1])
                fake.comments[comment_id]["body"] = body["body"]
                self._answer(200, fake.comments[comment_id])

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def github():
    fake = FakeGitHub()
    fake.comments[1] = {"id": 1, "body": "someone else's comment"}
    fake.comments[2] = {"id": 2, "body": "and another, so that ours is on a later page"}
    yield fake
    fake.close()


def _step_script(name: str) -> tuple[str, dict[str, str]]:
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    step = next(s for s in steps if s["name"] == name)
    return step["run"], step.get("env", {})


def run_step(
    name: str, tmp_path: Path, values: dict[str, str], extra_env: dict[str, str]
) -> subprocess.CompletedProcess:
    """One of the action's own `run:` steps, its ${{ ... }} expressions filled in, under bash."""
    script, env = _step_script(name)
    filled = {k: re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: values.get(m.group(1), ""), v) for k, v in env.items()}
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **extra_env, **filled},
    )


def _event(tmp_path: Path, fork: bool = False) -> Path:
    path = tmp_path / "event.json"
    head = "someone/r" if fork else "o/r"
    path.write_text(
        json.dumps(
            {
                "pull_request": {
                    "number": 7,
                    "base": {"repo": {"full_name": "o/r"}},
                    "head": {"repo": {"full_name": head}},
                }
            }
        )
    )
    return path


def test_the_first_push_creates_the_comment_and_later_pushes_update_it(github, tmp_path):
    out = tmp_path / "perfgate-report"
    out.mkdir()
    env = {
        "GITHUB_API_URL": github.url,
        "GITHUB_EVENT_PATH": str(_event(tmp_path)),
        "GITHUB_WORKFLOW": "perfgate",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    values = {
        "inputs.github-token": "t0ken",
        "inputs.out": str(out),
        "inputs.config": "",
        "steps.upload.outputs.artifact-url": "https://github.com/o/r/actions/runs/1/artifacts/9",
    }
    for push, verdict in enumerate(("regression", "pass")):
        (out / "summary.md").write_text(f"### perfgate: **{verdict}**\n")
        result = run_step("Comment on the pull request", tmp_path, values, env)
        assert result.returncode == 0, result.stderr
        assert ("created" if push == 0 else "updated") in result.stdout, result.stdout
    ours = [c for c in github.comments.values() if marker("perfgate", "perfgate.toml") in c["body"]]
    assert len(ours) == 1 and "**pass**" in ours[0]["body"] and "artifacts/9" in ours[0]["body"]
    writes = [(method, path) for method, path, _ in github.requests if method != "GET"]
    assert writes == [
        ("POST", "/repos/o/r/issues/7/comments"),
        ("PATCH", f"/repos/o/r/issues/comments/{ours[0]['id']}"),
    ]
    assert "artifacts/9" in (tmp_path / "summary").read_text()  # the job summary links the artifact, not a path


def test_a_fork_skips_the_comment_with_a_message(github, tmp_path):
    out = tmp_path / "perfgate-report"
    out.mkdir()
    (out / "summary.md").write_text("### perfgate\n")
    env = {"GITHUB_API_URL": github.url, "GITHUB_EVENT_PATH": str(_event(tmp_path, fork=True))}
    result = run_step(
        "Comment on the pull request", tmp_path, {"inputs.github-token": "t0ken", "inputs.out": str(out)}, env
    )
    assert result.returncode == 0 and "from a fork" in result.stdout
    assert not [r for r in github.requests if r[0] != "GET"]


@pytest.mark.parametrize(
    "status, code, line", [("0", 0, "pass"), ("1", 1, "::error::"), ("2", 0, "::warning::"), ("3", 1, "did not reach")]
)
def test_the_action_exits_by_the_verdict(tmp_path, status, code, line):
    result = run_step("Exit by the verdict", tmp_path, {"steps.gate.outputs.exit-code": status}, {})
    assert result.returncode == code and line in result.stdout


def stored(text: str) -> Reason:
    return Reason(Basis.STORED, text=text)


def test_annotations_name_each_flagged_metric_and_escape_it():
    rev = Revision("HEAD", "a" * 40)
    bad = MetricComparison(
        "chat", "login", "p95", 100.0, 120.0, 1.2, 1.1, 1.3, 0.001, State.REGRESSION, stored("regression:\nworse, 100%")
    )
    odd = MetricComparison(
        "chat", "send", "p50", 100.0, 103.0, 1.03, 0.97, 1.09, 0.2, State.INCONCLUSIVE, stored("inconclusive")
    )
    ok = MetricComparison("chat", "history", "p50", 100.0, 100.0, 1.0, 0.99, 1.01, 0.9, State.PASS, stored("pass"))
    lines = workflow_annotations(Verdict(State.REGRESSION, (bad, odd, ok), rev, rev))
    assert len(lines) == 2 and lines[0].startswith("::error title=perfgate regression%3A login p95::+20%")
    assert "%0A" in lines[0] and "100%25" in lines[0] and lines[1].startswith("::warning title=")


def test_the_action_is_complete_and_the_example_workflow_uses_it():
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    assert {"baseline", "config", "margin", "inconclusive", "comment", "infra", "github-token"} <= set(action["inputs"])
    assert {"verdict", "exit-code", "run-id", "report"} <= set(action["outputs"])
    flow = yaml.safe_load((ROOT / "infra" / "ci" / "perfgate.yml").read_text())
    steps = flow["jobs"]["gate"]["steps"]
    ours = next(s for s in steps if s.get("uses", "").startswith("perfgate/perfgate@"))
    assert re.fullmatch(r"perfgate/perfgate@[0-9a-f]{40}", ours["uses"])  # pinned to a commit
    assert flow["permissions"] == {"contents": "read", "pull-requests": "write"}
