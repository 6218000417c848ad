"""Reasons and notes are data: the judge writes no sentence, formatting writes every one, and a
stored verdict from before version 4 (reasons) or 5 (notes) keeps its sentences."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from perfgate.codec import verdict_from_dict, verdict_to_dict
from perfgate.config import JudgeConfig
from perfgate.figures import FailoverFigures, PhaseFigures, RedundancyFigures
from perfgate.formatting import note_text, reason_text, verdict_text
from perfgate.judge import judge
from perfgate.judge.invariants import failover_checks, redundancy_checks, with_checks
from perfgate.judge.verdicts import verdict_of, with_cpu_context
from perfgate.model import Basis, MetricComparison, Note, NoteKind, Reason, Revision, RoundMetrics, Side, State

REV = Revision("HEAD", "a" * 40)


def compared(name: str, metric: str, ratio: float, state: State, pairs: int = 6) -> MetricComparison:
    low, high = ratio * 0.95, ratio * 1.05
    return MetricComparison(
        "chat", name, metric, 100.0, 100.0 * ratio, ratio, low, high, 0.01, state, Reason(pairs=pairs), rounds=pairs
    )


def test_the_judge_returns_numbers_and_formatting_says_them() -> None:
    red = compared("login", "p95", 1.3, State.REGRESSION)
    assert red.why == Reason(Basis.COMPARISON, pairs=6)
    assert reason_text(red) == "regression: p95 login +30% [+23%, +37%] above the +5% margin"
    few = MetricComparison(
        "chat", "login", "p50", 1, 1, 1, math.nan, math.nan, math.nan, State.INCONCLUSIVE, Reason(pairs=2, need=3)
    )
    assert reason_text(few) == "inconclusive: p50 login: only 2 round pairs (need 3), never a pass"


def test_a_cpu_cost_carries_the_latency_deltas_beside_it() -> None:
    cpu = MetricComparison("chat", "(target)", "cpu_per_request", 800, 900, 1.125, 1.1, 1.15, 0.01, State.REGRESSION)
    p50 = compared("login", "p50", 1.02, State.PASS)
    marked = with_cpu_context([cpu, p50])[0]
    assert marked.why.beside == (("login", 2.0),)
    assert reason_text(marked).endswith("(scenario chat; p50 beside it: login +0.00 ms)")


def test_a_failed_hard_check_leads_the_verdict_then_the_worst_comparison() -> None:
    lost = FailoverFigures(side="candidate", scenario="chat", acked_lost=3, reads_ok_rate=1.0)
    kept = FailoverFigures(side="baseline", scenario="chat", acked_lost=0, reads_ok_rate=1.0)
    checks = failover_checks([kept, lost])
    verdict = with_checks(verdict_of([compared("send", "p50", 1.4, State.REGRESSION)], REV, REV), checks)
    assert verdict.state is State.REGRESSION and verdict.metrics[0].why.basis is Basis.CHECK
    assert (
        verdict_text(verdict)
        == "regression: 3 acknowledged writes lost; p50 send +40% [+33%, +47%] above the +5% margin"
    )


def test_json_keeps_reasons_as_data_and_in_words_and_reads_back_equal() -> None:
    verdict = verdict_of(
        [compared("login", "p95", 1.3, State.REGRESSION), compared("send", "p50", 1.0, State.PASS)], REV, REV
    )
    data = verdict_to_dict(verdict)
    first = data["metrics"][0]
    assert first["why"] == {"basis": "comparison", "pairs": 6, "need": 0, "fisher_p": None, "beside": [], "text": ""}
    assert first["reason"] == reason_text(verdict.metrics[0]) and data["reason"] == verdict_text(verdict)
    assert verdict_from_dict(data) == verdict


def test_a_version_3_verdict_keeps_its_sentences() -> None:
    data = verdict_to_dict(verdict_of([compared("login", "p95", 1.3, State.REGRESSION)], REV, REV))
    data["schema_version"] = 3
    for item in data["metrics"]:
        del item["why"]
        item["reason"] = "regression: p95 login +30% (as an older perfgate said it)"
    old = verdict_from_dict(data)
    assert old.metrics[0].why == Reason(Basis.STORED, text="regression: p95 login +30% (as an older perfgate said it)")
    assert verdict_text(old) == "regression: p95 login +30% (as an older perfgate said it)"


def test_notes_are_data_and_read_back_equal_with_their_words_beside_them() -> None:
    metrics = [
        RoundMetrics(i, i, "chat", side, name, {"p50": 10.0, "p99": 10.0}, count, 0)
        for i in range(3)
        for side in Side
        for name, count in (("send", 120), ("rare", 4))
    ]
    verdict = judge(metrics, JudgeConfig(metrics=("p50", "p99")), REV, REV, planned_pairs=3, budget_pairs=5)
    pooled = Note(NoteKind.POOLED, pairs=6, runs=("r1", "r2"))
    reused = Note(NoteKind.REUSED, reused=(("chat", 3),))
    verdict = dataclasses.replace(verdict, notes=(*verdict.notes, pooled, reused))
    few, thin, looks = verdict.notes[:3]
    assert few == Note(NoteKind.FEW_REQUESTS, "chat", "rare", requests=4.0, min_count=20)
    assert (thin.kind, thin.name, thin.requests, thin.needs[0][0]) == (NoteKind.THIN_TAIL, "send", 120.0, "p99")
    assert thin.needs[0][1] == pytest.approx(1000.0)
    assert looks == Note(NoteKind.LOOKS, looks=(3, 4, 5), judged_at=(1,))
    data = json.loads(json.dumps(verdict_to_dict(verdict)))
    assert data["notes"] == [
        "rare (chat): not judged, median 4 requests per round (min_count 20)",
        "send (chat): p99 (needs 1000) not judged with a median 120 requests per round; "
        "run longer rounds or more users",
        "sequential design: looks at 3, 4, 5 pairs; judged at look 1 of 3",
        "pooled 6 pairs from 2 stored runs: r1, r2",
        "pairs reused from earlier runs of this comparison on this machine and config (chat: 3)",
    ]
    assert [note_text(note) for note in verdict.notes] == data["notes"]
    assert verdict_from_dict(data).notes == verdict.notes


def test_a_version_4_verdict_keeps_its_notes_as_sentences() -> None:
    data = verdict_to_dict(verdict_of([compared("login", "p95", 1.3, State.REGRESSION)], REV, REV))
    data["schema_version"] = 4
    del data["notes_data"]
    data["notes"] = ["pooled 6 pairs from 2 stored runs: r1, r2 (as an older perfgate said it)"]
    old = verdict_from_dict(data)
    assert old.notes == (Note(NoteKind.STORED, text=data["notes"][0]),)
    assert note_text(old.notes[0]) == data["notes"][0]


def test_a_failed_redundancy_check_says_what_the_users_saw() -> None:
    up = RedundancyFigures(side="baseline", group="auth", scenario="chat", phases=(_all_down(1.3, 1.0),))
    hang = RedundancyFigures(side="candidate", group="auth", scenario="chat", phases=(_all_down(4107.0, 1.0),))
    logout = RedundancyFigures(side="candidate", group="auth", scenario="chat", phases=(_all_down(1.3, 0.0),))
    texts = {m.metric: reason_text(m) for m in redundancy_checks([up, hang])}
    assert texts["all_down_login_p50_ms"] == "regression: logins hung while every backend was down (p50 4,107 ms)"
    assert texts["went_down"] == "pass: the service stayed up"
    texts = {m.metric: reason_text(m) for m in redundancy_checks([up, logout])}
    assert texts["all_down_chat_ok"] == (
        "regression: logged-in users' chat 0.0% ok while every backend was down (goal 95.0%)"
    )
    assert texts["all_down_login_p50_ms"] == "pass: logins were answered at once while every backend was down"


def _all_down(login_p50_ms: float, send_ok_rate: float) -> PhaseFigures:
    return PhaseFigures(
        phase="all down", logins=10, login_ok_rate=0.0, login_p50_ms=login_p50_ms, sends=50, send_ok_rate=send_ok_rate
    )
