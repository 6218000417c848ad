import math

import pandas as pd
import pytest

from perfgate.config import ScenarioConfig
from perfgate.errors import ConfigError
from perfgate.faults.failover import failover_figures, failover_window
from perfgate.faults.round import plan_faults
from perfgate.figures import FailoverFigures
from perfgate.formatting import reason_text, verdict_text
from perfgate.judge import failover_checks, resource_metrics, with_checks
from perfgate.load.shape import user_counts
from perfgate.model import Design, Revision, RoundRecord, Side, State, Verdict

S = 1_000_000_000


def samples(rows):
    return pd.DataFrame(rows, columns=["t_ns", "latency_us", "name", "ok", "error", "side", "warmup"])


def test_failover_figures_from_modes_and_requests():
    modes = pd.DataFrame(
        {
            "t_ns": [1 * S, 2 * S, 3 * S, 6 * S, 7 * S],
            "side": "baseline",
            "process": "target",
            "mode": ["read-write", "read-write", "read-only", "read-only", "read-write"],
        }
    )
    rows = [
        (2 * S + 1, 900.0, "send", True, None, "baseline", False),
        (3 * S, 800.0, "send", False, "HTTPError: 503 read-only", "baseline", False),
        (5 * S, 700.0, "send", False, "HTTPError: 503 read-only", "baseline", False),
        (4 * S, 500.0, "login", True, None, "baseline", False),
        (4 * S, 400.0, "history", True, None, "baseline", False),
        (4 * S, 400.0, "history", False, "boom", "candidate", False),
    ]
    figures = failover_figures(samples(rows), modes, "baseline", int(2.5 * S), 6 * S, acked_lost=0, acknowledged=10)
    assert figures.detect_s == pytest.approx(0.5)
    assert figures.recover_s == pytest.approx(1.0)
    assert figures.write_error_window_s == pytest.approx(2.0)
    assert figures.reads == 2 and figures.reads_ok_rate == 1.0
    assert figures.errors_by_class == {"HTTPError (503)": 2}
    window = failover_window(figures, int(2.5 * S), 6 * S)
    assert (window.start_ns, window.end_ns) == (3 * S, 7 * S) and "detect 0.50s" in window.label


def test_a_service_that_never_notices():
    modes = pd.DataFrame({"t_ns": [1 * S], "side": "candidate", "process": "target", "mode": ["read-write"]})
    figures = failover_figures(samples([]), modes, "candidate", 2 * S, 3 * S, target_exited=True)
    assert figures.detect_s is None and figures.reads_ok_rate is None
    assert "never" in failover_window(figures, 2 * S, 3 * S).label


def fig(side, lost=0, exited=False, reads=1.0, scenario="f"):
    return FailoverFigures(scenario=scenario, side=side, acked_lost=lost, target_exited=exited, reads_ok_rate=reads)


def test_hard_checks():
    good = failover_checks([fig("baseline"), fig("candidate")])
    assert {c.metric: c.verdict for c in good} == {
        "acked_lost": State.PASS,
        "went_down": State.PASS,
        "outage_reads_ok": State.PASS,
    }
    bad = {c.metric: c for c in failover_checks([fig("baseline"), fig("candidate", lost=3, exited=True, reads=0.5)])}
    assert all(c.verdict is State.REGRESSION for c in bad.values())
    assert bad["acked_lost"].candidate == 3 and "3 acknowledged writes lost" in reason_text(bad["acked_lost"])
    # a baseline that also fails its reads does not make the candidate's failure a regression
    both = {c.metric: c for c in failover_checks([fig("baseline", reads=0.5), fig("candidate", reads=0.4)])}
    assert both["outage_reads_ok"].verdict is State.PASS


def test_with_checks_overrides_a_pass():
    rev = Revision("HEAD", "a" * 40)
    verdict = Verdict(State.PASS, (), rev, rev)
    checked = with_checks(verdict, failover_checks([fig("baseline"), fig("candidate", lost=1)]))
    assert checked.state is State.REGRESSION and verdict_text(checked).startswith("regression: 1 acknowledged")
    assert checked.metrics[0].metric == "acked_lost"
    assert with_checks(verdict, failover_checks([fig("baseline"), fig("candidate")])).state is State.PASS


def test_resource_metrics_over_the_measured_window():
    record = RoundRecord("r", 0, "chat", Design.DUET, (Side.BASELINE,), 0, 0, 2 * S, 9 * S)
    frame = pd.DataFrame(
        {
            "t_ns": [1 * S, 3 * S, 4 * S],
            "side": "baseline",
            "process": "target",
            "cpu_percent": [99.0, 10.0, 30.0],
            "rss_bytes": [10**9, 100, 300],
            "queue_depth": [500.0, 1.0, math.nan],
            "connections": 1.0,
            "mode": None,
        }
    )
    (m,) = resource_metrics(frame, record)
    assert m.values == {"rss_peak": 300.0, "cpu_mean": 20.0, "queue_peak": 1.0}


def test_fault_plans_are_validated_at_plan_time():
    ok = ScenarioConfig(
        name="s",
        warmup=1,
        duration=9,
        faults=({"at": 1, "for": 2, "link": "target", "toxic": "latency", "latency": 100},),
        monkey={"seed": 3, "mean_interval": 2},
    )
    plan = plan_faults(ok)
    assert plan.faults[0].proxy == "target" and len(plan.faults) > 1
    assert plan_faults(ok).faults == plan.faults  # the monkey replays the same faults for the same seed
    too_late = ScenarioConfig(
        name="s", warmup=1, duration=2, faults=({"at": 2, "for": 2, "link": "target", "toxic": "latency"},)
    )
    with pytest.raises(ConfigError, match=r"scenarios.s.faults\[0\]: at \+ for = 4s ends after the round"):
        plan_faults(too_late)
    no_db = ScenarioConfig(name="s", chaos=({"at": 1, "action": "kill", "process": "primary"},))
    with pytest.raises(ConfigError, match="unknown process 'primary'"):
        plan_faults(no_db)
    with pytest.raises(ConfigError, match="monkey.sed: unknown key"):
        plan_faults(ScenarioConfig(name="s", monkey={"sed": 1}))


def test_users_split_by_weight_and_fixed_count():
    class Chat:
        weight, fixed_count = 3, 0

    class Reader:
        weight, fixed_count = 1, 0

    class Storm:
        weight, fixed_count = 1, 1

    assert user_counts(8, [Chat, Reader], every_class=True) == [6, 2]
    assert user_counts(6, [Chat, Storm], every_class=True) == [5, 1]
    assert user_counts(1, [Chat, Reader], every_class=True) == [1, 1]
