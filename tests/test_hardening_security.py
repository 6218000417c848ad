"""Hostile paths, secrets and repositories: quoted commands, redacted reports, isolated hooks.

Real directories, real processes on 127.0.0.1, real git repositories.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from perfgate import hooks
from perfgate.codec import verdict_to_dict
from perfgate.config import TargetConfig, load_config
from perfgate.gate import GateOptions, _manifest
from perfgate.model import Design, Revision, RoundRecord, Side, State, Verdict
from perfgate.redact import REDACTED, is_secret_key, redact
from perfgate.report import write_reports
from perfgate.shell import format_command, quote_value
from perfgate.store.local import LocalStore
from perfgate.target import Target
from tests.history.gitrun import git_run
from tests.minimal_runs import samples

pytestmark = pytest.mark.timeout(60)

SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
HOSTILE_DIR = "my repo $(touch PWNED) `touch PWNED2`; touch PWNED3 'q\" \\"


# --- 5: every substituted value is one quoted shell word -------------------------------


def test_a_target_in_a_hostile_directory_starts_and_runs_nothing_else(tmp_path):
    """Before, ``{worktree}`` went into the shell unquoted: ``$(touch PWNED)`` ran."""
    worktree = tmp_path / HOSTILE_DIR
    worktree.mkdir()
    (worktree / "server.py").write_text(SERVER)
    data_dir = tmp_path / "data $(touch PWNED)"
    config = TargetConfig(command="{python} {worktree}/server.py {port} {data_dir}", ready_timeout=20, stop_timeout=2)
    target = Target(config, worktree, data_dir, Side.CANDIDATE, placeholders={"extra": "x; touch PWNED"})
    with target:
        assert target.proc is not None and target.proc.poll() is None  # it is up and answered ready
    made = [p.name for p in tmp_path.rglob("PWNED*")] + [p.name for p in Path.cwd().glob("PWNED*")]
    assert made == []


def test_placeholders_are_quoted_word_by_word():
    command = format_command(
        "{python} -m x --port {port} --data {data_dir} {db_args}",
        {
            "python": "/opt/my python/bin/python",
            "port": 8080,
            "data_dir": Path("/d/$(id)"),
            "db_args": ("--db", "h:1", "--name", "a b"),
        },
    )
    assert command == "'/opt/my python/bin/python' -m x --port 8080 --data '/d/$(id)' --db h:1 --name 'a b'"
    assert quote_value("plain") == "plain"
    with pytest.raises(KeyError):
        format_command("{nope}", {})


# --- 6: secrets never reach the manifest or a report -----------------------------------


@pytest.mark.parametrize(
    "key, secret",
    [
        ("API_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("DB_PASSWORD", True),
        ("sessionId", True),
        ("X_API_KEY", True),
        ("GITHUB_AUTH", True),
        ("PRIVATE_PEM", True),
        ("COOKIE_JAR", True),
        ("PATH", False),
        ("monkey", False),
        ("author", False),
        ("LOG_LEVEL", False),
    ],
)
def test_secret_looking_keys(key, secret):
    assert is_secret_key(key) is secret


def test_redact_masks_keys_and_url_passwords():
    data = {"env": {"API_TOKEN": "s3cr3t", "URL": "postgres://bob:hunter2@db/x", "MODE": "fast"}, "n": [1, {"KEY": 2}]}
    assert redact(data) == {
        "env": {"API_TOKEN": REDACTED, "URL": f"postgres://bob:{REDACTED}@db/x", "MODE": "fast"},
        "n": [1, {"KEY": REDACTED}],
    }


def test_target_env_secrets_never_reach_the_store_or_any_report(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFGATE_TEST_PROCESS_SECRET", "pr0cess-env-s3cr3t")
    (tmp_path / "perfgate.toml").write_text(
        '[target]\nenv = { API_TOKEN = "s3cr3t", DATABASE_URL = "postgres://u:pa55w0rd@db/x",'
        ' SESSION_COOKIE = "c00kie", MODE = "fast" }\n'
    )
    config = load_config(directory=tmp_path)
    assert config.target.env["API_TOKEN"] == "s3cr3t"  # the target itself still gets it
    base, cand = Revision("main", "a" * 40, "base"), Revision("HEAD", "b" * 40, "cand")
    manifest = _manifest(
        config, {Side.BASELINE: base, Side.CANDIDATE: cand}, GateOptions(command="perfgate run"), {}, ""
    )
    store = LocalStore(tmp_path / ".perfgate")
    run_id = store.create_run(manifest)
    for index in range(3):
        store.save_round(
            RoundRecord(
                run_id=run_id,
                index=index,
                scenario="chat",
                design=Design.DUET,
                sides=(Side.BASELINE, Side.CANDIDATE),
                pair=index,
                started_ns=0,
                measure_start_ns=0,
                ended_ns=2_000_000_000,
            ),
            samples(40, 1000.0),
        )
    store.save_verdict(run_id, verdict_to_dict(Verdict(State.PASS, (), base, cand, run_id=run_id)))
    out = tmp_path / "out"
    paths = write_reports(store, run_id, out, markdown=out / "pr.md", junit=out / "junit.xml", json_path=out / "v.json")
    html = paths.html.read_text()
    assert "API_TOKEN" in html and REDACTED.replace("<", "&lt;").replace(">", "&gt;") in html  # shown, masked
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "perfgate.toml"]
    assert {paths.html, paths.markdown, paths.junit, paths.json, store.run_dir(run_id) / "manifest.json"} <= set(
        written
    )
    for path in written:
        data = path.read_bytes()
        for secret in (b"s3cr3t", b"pa55w0rd", b"c00kie", b"pr0cess-env"):
            assert secret not in data, (path, secret)


# --- 7: hooks run isolated from the repository's own modules ---------------------------


def test_a_rich_module_in_the_repository_cannot_hijack_the_hook(tmp_path):
    """git runs hooks in the work tree's top folder; ``python -m`` put it first on sys.path."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git_run(repo, "init", "-q", "-b", "main")
    marker = tmp_path / "HIJACKED"
    (repo / "rich.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('hijacked rich')\n")
    (repo / "a.txt").write_text("one\n")
    git_run(repo, "add", "a.txt", "rich.py")
    git_run(repo, "commit", "-q", "-m", "first")
    bare = tmp_path / "remote.git"
    git_run(tmp_path, "init", "-q", "--bare", str(bare))
    git_run(repo, "remote", "add", "origin", str(bare))
    hooks.install(repo, "pre-push", hooks.HookSettings())
    result = git_run(repo, "push", "-q", "origin", "main")
    assert not marker.exists() and "hijacked" not in result.stderr, result.stderr
    assert "no perfgate.toml" in result.stderr or "did not run to a verdict" in result.stderr, result.stderr
    check = subprocess.run([sys.executable, "-m", "rich"], cwd=repo, capture_output=True, text=True, timeout=30)
    assert "hijacked rich" in check.stderr  # the planted module is real: a plain -m here does run it
