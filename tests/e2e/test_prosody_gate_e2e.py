"""perfgate gates a real XMPP server it did not write: Prosody, from examples/prosody, end to end.

The chat scenario's costly commit turns on message archiving (mod_mam with Prosody's internal
file storage: every chat message appended to the sender's and the receiver's archive files).
The storm scenario's costly commit seeds the accounts with Prosody's own default of 10,000
PBKDF2 iterations instead of 4,096, so each of the storm's SASL PLAIN logins costs the server
more hashing. The A/A pair differs in a comment only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import git
import pytest

from perfgate.figures import StormFigures
from perfgate.store import LocalStore
from tests.support import AUTHOR, assert_no_children, run_cli
from tests.xmpp.prosody_fixture import EXAMPLE, require_prosody

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tiny_gates")]

ARCHIVING = """\t"ping";
\t"mam";                         -- XEP-0313: every chat message archived, for sender and receiver
}
default_archive_policy = true      -- archive every conversation
archive_expires_after = "never\""""


def prosody_repo(path: Path, change: str) -> git.Repo:
    """The example as a user's repository, then one commit: "archive" or "comment"."""
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    (path / ".gitignore").write_text(".perfgate/\nreports/\n__pycache__/\n")
    repo = git.Repo.init(path)
    repo.git.add(A=True)
    repo.index.commit("prosody", author=AUTHOR, committer=AUTHOR)
    config = path / "prosody.cfg.lua"
    text = config.read_text()
    if change == "archive":
        assert '\t"ping";\n}' in text
        config.write_text(text.replace('\t"ping";\n}', ARCHIVING, 1))
        message = "prosody: archive every message (mod_mam, internal storage)"
    elif change == "hash":
        seed = path / "seed_accounts.py"
        assert "\nITERATIONS = 4096 " in seed.read_text()
        seed.write_text(seed.read_text().replace("\nITERATIONS = 4096 ", "\nITERATIONS = 10000 ", 1))
        message = "seed accounts with Prosody's default PBKDF2 iteration count"
    else:
        config.write_text("-- Reviewed: no change in behaviour.\n" + text)
        message = "prosody: a comment"
    repo.git.add(A=True)
    repo.index.commit(message, author=AUTHOR, committer=AUTHOR)
    return repo


def gate(path: Path, max_rounds: int, scenario: str = "chat", rounds: int = 3) -> tuple[int, dict]:
    args = ("--baseline", "HEAD~1", "--candidate", "HEAD", "--rounds", str(rounds), "--max-rounds", str(max_rounds))
    result = run_cli("run", *args, "--scenario", scenario, "--json", "verdict.json", cwd=path)
    assert result.returncode in (0, 1, 2), result.stdout + result.stderr
    return result.returncode, json.loads((path / "verdict.json").read_text())


def test_archiving_every_message_is_a_regression(tmp_path):
    require_prosody()
    prosody_repo(tmp_path, "archive")
    code, verdict = gate(tmp_path, max_rounds=3)
    by_key = {(m["name"], m["metric"]): m for m in verdict["metrics"]}
    cpu = by_key[("(target)", "cpu_per_request")]
    assert code == 1 and verdict["reason"].startswith("regression"), verdict["reason"]
    # the gate's own decision, then the size: +40-58% measured; with 3 pairs the CI's lower end
    # swings (+4.9% once in CI), the point estimate does not
    assert cpu["verdict"] == "regression" and cpu["ratio"] > 1.15, cpu["reason"]
    for step in ("connect", "auth", "bind", "roster", "presence", "send", "deliver"):  # every step was judged
        assert by_key[(step, "error_rate")]["verdict"] != "regression", by_key[(step, "error_rate")]["reason"]
    assert_no_children()


def pair_by_pair(path: Path, run_id: str) -> str:
    """Each round's p50 per step and side, who started, the generator's CPU and loop lag: what a
    red A/A gate needs to be read back after CI has thrown its folders away."""
    store = LocalStore(path / ".perfgate")
    lines = []
    for record in store.rounds(run_id):
        samples = store.samples(run_id, record.index)
        samples = samples[samples["ok"] & ~samples["warmup"]]
        p50 = samples.groupby(["name", "side"])["latency_us"].median().unstack()
        steps = " ".join(f"{name} {row['baseline']:.0f}/{row['candidate']:.0f}" for name, row in p50.iterrows())
        health = record.health
        lines.append(
            f"pair {record.pair} first {record.sides[0].value} generator {record.generator_cpu:.0f}% "
            f"lag p99 {health.loop_lag_ms_p99 or 0:.1f} ms, p50 µs baseline/candidate: {steps}"
        )
    return "\n".join(lines)


def test_a_comment_is_not_a_regression(tmp_path):
    """Four pairs, all planned: each side starts two of them, so a first-side advantage cancels."""
    require_prosody()
    prosody_repo(tmp_path, "comment")
    code, verdict = gate(tmp_path, max_rounds=4, rounds=4)
    red = verdict["verdict"] == "regression"
    assert code in (0, 2) and not red, f"{verdict['reason']}\n{pair_by_pair(tmp_path, verdict['run_id'])}"
    assert not [m for m in verdict["metrics"] if m["verdict"] == "regression"]
    assert_no_children()


def test_a_costlier_password_hash_is_a_storm_regression(tmp_path):
    """500 SASL logins at once, each hashed 10,000 times instead of 4,096: in every pair the
    candidate's storm is answered much later (x1.56-x2.25 per pair, measured; BENCHMARKS.md), and
    every login is counted.

    On a quiet machine the gate is red (storm p50 or the target's CPU per request decides it). On
    a loaded one (a second CI run beside this one) the pairs spread, and with about 40 metrics
    judged together 4 pairs can leave every metric inconclusive: so the gate must never pass, and
    the effect is checked for its size in every pair, not for the judge's state."""
    require_prosody()
    prosody_repo(tmp_path, "hash")
    code, verdict = gate(tmp_path, max_rounds=4, scenario="storm")
    assert code in (1, 2) and verdict["verdict"] != "pass", verdict["reason"]
    storm = {m["metric"]: m for m in verdict["metrics"] if m["name"] == "storm_login"}
    assert storm["p50"]["verdict"] != "pass" and storm["p50"]["ratio"] > 1.25, storm["p50"]["reason"]
    p50: dict[int, dict[str, float]] = {}
    for record in LocalStore(tmp_path / ".perfgate").rounds(verdict["run_id"]):
        storms = {w.side: w.detail for w in record.windows if w.kind == "storm"}
        assert set(storms) == {"baseline", "candidate"}
        for side, figures in storms.items():
            assert isinstance(figures, StormFigures) and figures.logins == 500, figures
            assert figures.p50_ms is not None
            p50.setdefault(record.pair, {})[side] = figures.p50_ms
    ratios = [pair["candidate"] / pair["baseline"] for pair in p50.values()]
    assert len(ratios) >= 3 and min(ratios) > 1.3, ratios
    assert "Login storms" in Path(verdict["report"]).read_text()  # the report's storm table
    assert_no_children()
