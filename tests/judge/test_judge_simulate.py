from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from perfgate.config import JudgeConfig
from perfgate.judge import round_metrics
from perfgate.judge.simulate import QUIET_NOISE, NoiseModel, Shift, calibrate, round_frames, run_gate, simulate_gate
from perfgate.model import Design, RoundRecord, Side, State

SMALL = NoiseModel(samples=600)


def test_bulk_metrics_equal_round_metrics():
    metrics, latency, endpoint = simulate_gate(np.random.default_rng(3), SMALL, pairs=2)
    names = np.array([e.name for e in SMALL.endpoints])
    rows = pd.DataFrame(
        {
            "t_ns": 0,
            "latency_us": np.r_[latency[1, 0], latency[1, 1]],
            "name": np.r_[names[endpoint[1, 0]], names[endpoint[1, 1]]],
            "type": "GET",
            "ok": True,
            "bytes": 0,
            "error": None,
            "side": ["baseline"] * 600 + ["candidate"] * 600,
            "warmup": False,
        }
    )
    rec = RoundRecord("r", 1, "sim", Design.DUET, (Side.BASELINE, Side.CANDIDATE), 1, 0, 0, 10**10)
    direct = {(m.side, m.name): m.values for m in round_metrics(rows, rec)}
    bulk = {(m.side, m.name): m.values for m in metrics if m.pair == 1}
    for key, values in direct.items():
        for q in ("p50", "p90", "p95", "p99", "p99.9", "mean"):
            assert bulk[key][q] == pytest.approx(values[q])


def test_seeded_and_shift_moves_the_quantile():
    a, _, _ = simulate_gate(np.random.default_rng(1), SMALL, pairs=3)
    b, _, _ = simulate_gate(np.random.default_rng(1), SMALL, pairs=3)
    assert a == b
    quiet = replace(SMALL, samples=4000, hiccup_rate=0.0, machine_sd=0.0, drift_sd=0.0)
    metrics, _, _ = simulate_gate(np.random.default_rng(2), quiet, Shift("p95", 0.5), pairs=4)

    def ratio(q):
        c = [m.values[q] for m in metrics if m.name == "login" and m.side is Side.CANDIDATE]
        b = [m.values[q] for m in metrics if m.name == "login" and m.side is Side.BASELINE]
        return float(np.exp(np.mean(np.log(np.array(c) / np.array(b)))))

    assert ratio("p95") == pytest.approx(1.5, rel=0.1)
    assert ratio("p50") == pytest.approx(1.0, abs=0.05)


def test_calibration_hits_the_measured_noise():
    model = calibrate(NoiseModel(design=Design.DUET, samples=1000), QUIET_NOISE[Design.DUET], pairs=200)
    assert 0 < model.level_sd < 0.03


def test_gate_replay_and_frames():
    model = calibrate(NoiseModel(), QUIET_NOISE[Design.DUET], pairs=100)
    metrics, _, _ = simulate_gate(np.random.default_rng(0), model)
    outcome = run_gate(metrics, JudgeConfig())
    assert outcome.verdict.state is State.PASS and outcome.pairs in (6, 9, 12)
    rounds = round_frames(np.random.default_rng(0), replace(model, design=Design.INTERLEAVED), pairs=2)
    assert len(rounds) == 4 and {r.pair for r, _ in rounds} == {0, 1}
    record, frame = rounds[0]
    assert len(record.sides) == 1 and frame["warmup"].sum() == 300
    assert {m.name for m in round_metrics(frame, record)} == {"login", "send"}
