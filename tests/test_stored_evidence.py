"""One function turns stored rounds into evidence, hard checks included: every re-judging path agrees."""

from __future__ import annotations

from perfgate.bisect import Bisector, Watch
from perfgate.commands.bisect import step_text
from perfgate.formatting import verdict_text
from perfgate.gate import GateOptions
from perfgate.hooks import HookSettings, gate_options, reuse_or_measure
from perfgate.model import State
from perfgate.store import LocalStore
from perfgate.store.query import Measurements, judge_evidence, stored_evidence
from tests.stored_runs import build_repo, write_run
from tests.support import run_cli


def lost_write_run(tmp_path):
    """A stored run whose latencies are equal but whose candidate lost acknowledged writes."""
    repo = tmp_path / "repo"
    config, baseline, candidate = build_repo(repo)
    store = LocalStore(repo / ".perfgate")
    run_id = write_run(store, config, baseline, candidate, lost=2)
    return repo, config, baseline, candidate, store, run_id


def test_the_latencies_alone_would_pass(tmp_path):
    repo, config, baseline, candidate, store, run_id = lost_write_run(tmp_path)
    evidence = stored_evidence(store, run_id)
    assert evidence.metrics and len(evidence.failover) == 6  # 3 rounds x 2 sides
    verdict = judge_evidence(evidence, config.judge, baseline, candidate)
    assert verdict.state is State.REGRESSION and "6 acknowledged writes lost" in verdict_text(
        verdict
    )  # summed over rounds
    login = [m for m in verdict.metrics if m.name == "login" and m.metric == "p50"]
    assert login and login[0].verdict is State.PASS  # only the hard check fails


def test_history_pooled_verdict_keeps_the_hard_checks(tmp_path):
    repo, config, baseline, candidate, store, run_id = lost_write_run(tmp_path)
    pooled = Measurements(store).pooled_verdict(config, baseline, candidate)
    assert pooled.run_ids == (run_id,) and pooled.pairs == 3
    assert pooled.verdict is not None and pooled.verdict.state is State.REGRESSION
    assert "acknowledged writes lost" in verdict_text(pooled.verdict)


def test_the_hooks_re_judge_path_keeps_the_hard_checks(tmp_path):
    repo, config, baseline, candidate, store, run_id = lost_write_run(tmp_path)
    options = gate_options(HookSettings(profile="default"), baseline.sha, candidate.sha, "test")
    verdict, source = reuse_or_measure(config, repo, options)
    assert source == "stored"  # re-judged, not measured
    assert verdict.state is State.REGRESSION and "acknowledged writes lost" in verdict_text(verdict)


def test_bisects_step_judge_keeps_the_hard_checks(tmp_path):
    repo, config, baseline, candidate, store, run_id = lost_write_run(tmp_path)
    for watch in (Watch(), Watch("p50", "login")):  # even when the watched metric itself passes
        step = Bisector(config, repo, GateOptions(), watch).judge_step(baseline, candidate)
        assert step.gates == 0 and step.state is State.REGRESSION, (watch, step_text(step))
        assert "acknowledged writes lost" in step_text(step)


def test_compare_keeps_the_hard_checks(tmp_path):
    repo, config, baseline, candidate, store, run_id = lost_write_run(tmp_path)
    result = run_cli("compare", run_id, "--store", str(repo / ".perfgate"), cwd=repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "acknowledged writes lost" in result.stdout
