"""Round records round-trip with typed figures, and version 2 records migrate on read."""

from perfgate.codec import round_from_dict, round_to_dict
from perfgate.figures import ChaosFigures, FailoverFigures, FaultFigures, PhaseFigures, RedundancyFigures, StormFigures
from perfgate.model import ClusterRound, Design, RoundHealth, RoundRecord, Side, Window

SIDES = (Side.BASELINE, Side.CANDIDATE)
REDUNDANCY = RedundancyFigures(
    side="candidate",
    group="auth",
    members=3,
    phases=(PhaseFigures("all up", 0, 2, 2.0, logins=9, login_ok_rate=1.0), PhaseFigures("all down", 3, 5, 2.0)),
    shed_ms=(12.5, None),
    chat_continuity=0.9,
)


def test_a_round_round_trips_with_every_kind_of_figures() -> None:
    windows = (
        Window("warmup", "warm-up", 0, 1),
        Window("fault", "latency", 1, 2, FaultFigures("db", "latency", 1, 2, {"at": 1, "latency": 50}), "baseline"),
        Window("storm", "login storm", 2, 3, StormFigures(logins=400, ok=399, errors=1, p99_ms=None), "candidate"),
        Window("chaos", "kill primary", 3, 4, ChaosFigures(action="kill", process="primary", real_ns=3), "baseline"),
        Window("failover", "read-only", 4, 5, FailoverFigures(side="baseline", errors_by_class={"503": 2}), "baseline"),
        Window("redundancy", "auth all down", 5, 6, REDUNDANCY, "candidate"),
    )
    health = RoundHealth(1.5, 9.0, 2, "boom", {"baseline": 8001}, ClusterRound("pg-1", "0003", 2, {"w1": -40}))
    record = RoundRecord("r", 0, "chat", Design.DUET, SIDES, 0, 0, 1, 5, windows=windows, health=health)
    back = round_from_dict(round_to_dict(record))
    assert back == record
    assert [w.detail for w in back.windows] == [w.detail for w in windows]  # detail is not compared by ==
    assert [w.side for w in back.windows] == ["", "baseline", "candidate", "baseline", "baseline", "candidate"]
    assert back.health == health
    assert back.figures(FailoverFigures) == [FailoverFigures(side="baseline", errors_by_class={"503": 2})]
    assert back.figures(RedundancyFigures) == [REDUNDANCY]


def test_redundancy_figures_survive_json() -> None:
    import json

    window = Window("redundancy", "auth all down", 5, 6, REDUNDANCY, "candidate")
    record = RoundRecord("r", 0, "chat", Design.DUET, SIDES, 0, 0, 1, 5, windows=(window,))
    back = round_from_dict(json.loads(json.dumps(round_to_dict(record))))
    assert back.figures(RedundancyFigures) == [REDUNDANCY]


def test_a_version_2_round_migrates_its_extra_and_its_windows() -> None:
    stored = {
        "schema_version": 2,
        "run_id": "r",
        "index": 0,
        "scenario": "failover",
        "design": "duet",
        "sides": ["baseline", "candidate"],
        "pair": 0,
        "started_ns": 0,
        "measure_start_ns": 1,
        "ended_ns": 9,
        "windows": [
            {
                "kind": "fault",
                "label": "down on primary",
                "start_ns": 2,
                "end_ns": 3,
                "detail": {"at": 1, "for": 1, "link": "primary", "toxic": "down", "side": "candidate"}
                | {"planned_start_ns": 2, "planned_end_ns": 3},
            },
            {
                "kind": "failover",
                "label": "read-only",
                "start_ns": 2,
                "end_ns": 4,
                "detail": {"side": "candidate", "detect_s": 0.5, "acked_lost": 0, "a_key_from_later": 1},
            },
        ],
        "extra": {
            "loop_lag_ms_p50": 0.4,
            "user_errors": 1,
            "ports": {"baseline": 9001},
            "failover": {"candidate": {"side": "candidate", "detect_s": 0.5}},
            "cluster_run": "pg-7",
            "cluster_round": "0001",
            "workers": 2,
        },
    }
    record = round_from_dict(stored)
    fault, failover = record.windows
    assert fault.side == "candidate" and fault.detail == FaultFigures(
        "primary", "down", 2, 3, {"at": 1, "for": 1, "link": "primary", "toxic": "down"}
    )
    assert failover.side == "candidate"
    assert record.figures(FailoverFigures) == [FailoverFigures(side="candidate", detect_s=0.5, acked_lost=0)]
    assert record.health == RoundHealth(
        loop_lag_ms_p50=0.4, user_errors=1, ports={"baseline": 9001}, cluster=ClusterRound("pg-7", "0001", 2)
    )
