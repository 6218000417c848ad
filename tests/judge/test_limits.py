"""Absolute limits: the candidate alone against a limit, with a CI over its rounds."""

from __future__ import annotations

import pytest

from perfgate.config import JudgeConfig, load_config
from perfgate.errors import ConfigError
from perfgate.formatting import margin_text, reason_text, value_text, verdict_text
from perfgate.judge.limits import limit_checks
from perfgate.model import Revision, RoundMetrics, Side, State
from perfgate.store.query import Evidence, judge_evidence

REV = Revision("HEAD", "a" * 40)


def rounds(p95_ms: list[float], baseline_ms: float | None = None) -> list[RoundMetrics]:
    out = []
    for k, ms in enumerate(p95_ms):
        for side, value in ((Side.CANDIDATE, ms), (Side.BASELINE, baseline_ms if baseline_ms else ms)):
            values = {"p50": value * 500.0, "p95": value * 1000.0, "p99": value * 1000.0, "error_rate": 0.0}
            out.append(RoundMetrics(k, k, "chat", side, "login", values, 500, 0))
    return out


def by_state(p95_ms: list[float], limit_ms: float = 250.0) -> State:
    (check,) = limit_checks(rounds(p95_ms), {"login.p95": limit_ms * 1000.0})
    return check.verdict


def test_the_whole_ci_decides():
    assert by_state([262, 258, 261, 263, 259, 260]) is State.REGRESSION  # every round above, tightly
    assert by_state([200, 204, 198, 201, 203, 199]) is State.PASS
    assert by_state([230, 270, 240, 262, 235, 258]) is State.INCONCLUSIVE  # the CI holds 250 ms
    assert by_state([300, 300]) is State.INCONCLUSIVE  # too few rounds to decide, however far above


def test_a_limit_row_reads_in_the_metrics_units():
    (check,) = limit_checks(rounds([262, 258, 261, 263, 259, 260]), {"login.p95": 250_000.0})
    assert check.metric == "p95 limit" and value_text(check.candidate, check.metric) == "260 ms"
    assert margin_text(check) == "≤ 250 ms" and "above the 250 ms limit" in reason_text(check)


def test_a_failed_limit_makes_a_passing_gate_red_and_an_undecided_one_yellow():
    config = JudgeConfig(metrics=("p95",), limits={"p95": 250_000.0})
    red = judge_evidence(Evidence(rounds([262, 258, 261, 263, 259, 260])), config, REV, REV)
    assert red.state is State.REGRESSION and verdict_text(red).startswith("regression: p95 login 260 ms")
    yellow = judge_evidence(Evidence(rounds([230, 270, 240, 262, 235, 258])), config, REV, REV)
    assert yellow.state is State.INCONCLUSIVE and "limit" in verdict_text(yellow)
    green = judge_evidence(Evidence(rounds([200, 204, 198, 201, 203, 199])), config, REV, REV)
    assert green.state is State.PASS and any(m.metric == "p95 limit" for m in green.metrics)


def test_limits_are_written_as_people_write_them(tmp_path):
    (tmp_path / "perfgate.toml").write_text(
        '[judge.limits]\n"login.p95" = "250ms"\np99 = 400\nerror_rate = 0.01\ncpu_per_request = 900\n'
    )
    limits = load_config(directory=tmp_path).judge.limits
    assert limits == {"login.p95": 250_000.0, "p99": 400_000.0, "error_rate": 0.01, "cpu_per_request": 900.0}


@pytest.mark.parametrize(
    "line, needle",
    [
        ('"login.p42" = 1', "unknown metric"),
        ("throughput = 100", "a throughput limit (a floor, not a ceiling) is not supported"),
        ("error_rate = 2", "[judge.limits] error_rate: must be between"),
        ('p95 = "fast"', "[judge.limits] p95: must be a duration"),
    ],
)
def test_a_bad_limit_is_one_line_naming_the_key(tmp_path, line, needle):
    (tmp_path / "perfgate.toml").write_text(f"[judge.limits]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_config(directory=tmp_path)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_every_output_shows_a_limit(tmp_path):
    from perfgate.codec import verdict_from_dict, verdict_to_dict
    from perfgate.report.summary import junit_xml, markdown_summary

    config = JudgeConfig(metrics=("p95",), limits={"login.p95": 250_000.0})
    verdict = judge_evidence(Evidence(rounds([262, 258, 261, 263, 259, 260])), config, REV, REV)
    stored = verdict_to_dict(verdict)
    assert verdict_to_dict(verdict_from_dict(stored)) == stored  # --json and the store keep it
    markdown = markdown_summary(verdict, None, "https://ci.example.org/r.html")
    assert "| p95 limit | 250 ms | 260 ms |" in markdown
    assert b"login [p95 limit]" in junit_xml(verdict)
