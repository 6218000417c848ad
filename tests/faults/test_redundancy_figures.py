"""The per-phase figures of a group's outage, and the hard checks over them: pure functions."""

from __future__ import annotations

import dataclasses

import pandas as pd

from perfgate.faults.redundancy import member_outages, phases, redundancy_figures, redundancy_window
from perfgate.figures import ChaosFigures, FaultFigures, RedundancyFigures
from perfgate.judge.invariants import redundancy_checks
from perfgate.model import Window

S = 1_000_000_000


def chaos(process: str, at: int, restore: int | None, action: str = "kill", side: str = "baseline") -> Window:
    figures = ChaosFigures(action=action, process=process, real_ns=at * S, restore_ns=restore and restore * S)
    return Window("chaos", f"{action} {process}", at * S, at * S, figures, side)


def test_member_outages_from_chaos_and_faults() -> None:
    windows = [
        chaos("auth-0", 2, 5),
        chaos("auth-0", 8, None, "pause"),
        chaos("auth-0", 9, None, "resume"),
        Window("fault", "down on auth-0", 12 * S, 13 * S, FaultFigures(link="auth-0", toxic="down"), "baseline"),
        chaos("auth-0", 1, 3, side="candidate"),
        chaos("auth-1", 1, None),
    ]
    assert member_outages(windows, "baseline", "auth-0", 20 * S) == [(2 * S, 5 * S), (8 * S, 9 * S), (12 * S, 13 * S)]
    assert member_outages(windows, "baseline", "auth-1", 20 * S) == [(1 * S, 20 * S)]  # never restored


def test_phases_of_a_staggered_outage() -> None:
    outages = [[(2 * S, 9 * S)], [(4 * S, 11 * S)], [(6 * S, 13 * S)]]
    assert phases(outages, 0, 15 * S) == [
        ("all up", 0, 2 * S),
        ("one down", 2 * S, 4 * S),
        ("two down", 4 * S, 6 * S),
        ("all down", 6 * S, 9 * S),
        ("recovering", 9 * S, 13 * S),
        ("all up", 13 * S, 15 * S),
    ]
    assert [p[0] for p in phases([[(1 * S, 2 * S)], []], 0, 3 * S)] == ["all up", "one down", "all up"]
    apart = [[(1 * S, 2 * S)], [(3 * S, 4 * S)]]  # one after the other: never recovering
    assert [p[0] for p in phases(apart, 0, 5 * S)] == ["all up", "one down", "all up", "one down", "all up"]
    partial = [[(1 * S, 4 * S)], [(2 * S, 3 * S)], []]
    assert [p[0] for p in phases(partial, 0, 5 * S)] == ["all up", "one down", "two down", "recovering", "all up"]


def samples(rows: list[tuple[float, str, bool, float]], side: str = "baseline") -> pd.DataFrame:
    """(second, name, ok, latency ms) rows as the recorder writes them."""
    return pd.DataFrame(
        {
            "t_ns": [int(t * S) for t, _, _, _ in rows],
            "latency_us": [ms * 1000 for _, _, _, ms in rows],
            "name": [n for _, n, _, _ in rows],
            "ok": [ok for _, _, ok, _ in rows],
            "side": side,
            "warmup": False,
        }
    )


OUTAGES = [[(2 * S, 9 * S)], [(4 * S, 11 * S)], [(6 * S, 13 * S)]]
GOOD = samples(
    [(t, "send", True, 2.0) for t in (0.5, 1, 1.5, 7, 7.5, 8, 8.5, 14, 14.5)]
    + [(1, "login", True, 20.0), (3, "login", True, 25.0), (5, "login", True, 25.0)]
    + [(7, "login", False, 1.0), (8, "login", False, 1.5), (10, "login", True, 30.0), (7.2, "deliver", True, 3.0)]
)


def test_figures_per_phase() -> None:
    backends = [{"opened_ns": [2 * S + 300_000_000]}, {"opened_ns": []}, {}]
    figures = redundancy_figures(GOOD, "baseline", "auth", OUTAGES, 0, 15 * S, backends=backends)
    down = figures.phase("all down")
    assert down is not None and down.seconds == 3.0
    assert (down.logins, down.login_ok_rate, down.login_max_ms) == (2, 0.0, 1.5)
    assert (down.sends, down.send_ok_rate, down.delivers, down.deliver_p50_ms) == (4, 1.0, 1, 3.0)
    assert figures.phase("one down").login_ok_rate == 1.0  # type: ignore[union-attr]
    assert figures.shed_ms == (300.0, None, None)
    assert figures.login_error_window_ms == 1000.0 and figures.all_down_ms == 3000.0
    assert figures.recover_ms == 1030.0  # back at 9 s; the login sent at 10 s answered 30 ms later
    assert figures.chat_continuity == (4 / 3) / (5 / 4)  # 4 good sends in 3 s all down; 5 in the 4 s all up
    window = redundancy_window(figures)
    assert (window.kind, window.start_ns, window.end_ns, window.side) == ("redundancy", 6 * S, 9 * S, "baseline")
    assert "auth all down" in window.label and "logins ok 0%" in window.label


def figures_of(side: str, data: pd.DataFrame) -> RedundancyFigures:
    return dataclasses.replace(redundancy_figures(data, side, "auth", OUTAGES, 0, 15 * S), scenario="r")


def verdicts(candidate: pd.DataFrame) -> dict[str, str]:
    checks = redundancy_checks([figures_of("baseline", GOOD), figures_of("candidate", candidate)])
    return {c.metric: c.verdict.value for c in checks}


def test_the_correct_service_passes_every_check() -> None:
    assert set(verdicts(GOOD.assign(side="candidate")).values()) == {"pass"}


def test_hung_logins_while_all_down_are_a_regression() -> None:
    hung = GOOD.assign(side="candidate")
    hung.loc[(hung["name"] == "login") & ~hung["ok"], "latency_us"] = 2_500_000.0
    assert verdicts(hung)["all_down_login_p50_ms"] == "regression"


def test_no_failover_is_a_regression() -> None:
    stuck = GOOD.assign(side="candidate")
    stuck.loc[(stuck["name"] == "login") & stuck["t_ns"].between(2 * S, 6 * S - 1), "ok"] = False
    assert verdicts(stuck)["degraded_login_ok"] == "regression"


def test_users_logged_out_while_all_down_are_a_regression() -> None:
    out = GOOD[~((GOOD["name"] == "send") & GOOD["t_ns"].between(6 * S, 9 * S))].assign(side="candidate")
    assert verdicts(out)["all_down_chat_continuity"] == "regression"
    assert verdicts(out)["all_down_chat_ok"] == "regression"  # no sends at all is no chat


def test_a_login_refused_after_the_last_member_died_counts_for_all_down() -> None:
    edge = pd.concat(
        [GOOD, samples([(5.98, "login", False, 60.0)])], ignore_index=True
    )  # sent at 5.98, refused at 6.04
    figures = redundancy_figures(edge, "baseline", "auth", OUTAGES, 0, 15 * S)
    assert figures.phase("two down").login_ok_rate == 1.0  # type: ignore[union-attr]
    assert figures.phase("all down").logins == 3  # type: ignore[union-attr]
    assert figures.phase("two down").login_max_ms == 60.0  # type: ignore[union-attr]  # latency: where it began


def test_a_login_served_before_the_last_member_died_counts_before_it() -> None:
    """Its answer lands in all down (a CI run once read "logins ok 6%" there), but a member served it."""
    edge = pd.concat(
        [GOOD, samples([(5.99, "login", True, 20.0)])], ignore_index=True
    )  # sent at 5.99, answered ok at 6.01
    figures = redundancy_figures(edge, "baseline", "auth", OUTAGES, 0, 15 * S)
    down, before = figures.phase("all down"), figures.phase("two down")
    assert down is not None and (down.logins, down.login_ok_rate) == (2, 0.0)
    assert before is not None and (before.logins, before.login_ok_rate) == (2, 1.0)
