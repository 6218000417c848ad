"""Builders of round metrics with known answers for the judge's tests."""

from __future__ import annotations

import numpy as np

from perfgate.model import Revision, RoundMetrics, Side

REV = Revision("HEAD", "0" * 40)


def pairs(
    ratios,
    *,
    name: str = "login",
    scenario: str = "chat",
    noise=None,
    base: float = 1000.0,
    metrics=("p50", "p95", "p99"),
    throughput_ratios=None,
    count: int = 1000,
    errors=(0, 0),
    start_pair: int = 0,
) -> list[RoundMetrics]:
    """Duet rounds whose candidate/baseline ratio of every latency metric is ``ratios[k]``."""
    out = []
    noise = np.zeros(len(ratios)) if noise is None else np.asarray(noise)
    for k, ratio in enumerate(ratios):
        pair = start_pair + k
        level = base * np.exp(noise[k])
        tp = 1.0 / ratio if throughput_ratios is None else throughput_ratios[k]
        b = {m: level * (1 + i) for i, m in enumerate(metrics)}
        c = {m: v * ratio for m, v in b.items()}
        b.update(throughput=100.0, error_rate=errors[0] / count)
        c.update(throughput=100.0 * tp, error_rate=errors[1] / count)
        out.append(RoundMetrics(pair, pair, scenario, Side.BASELINE, name, b, count, errors[0]))
        out.append(RoundMetrics(pair, pair, scenario, Side.CANDIDATE, name, c, count, errors[1]))
    return out


def noisy_ratios(n: int, shift: float, sd: float, seed: int) -> np.ndarray:
    return (1 + shift) * np.exp(np.random.default_rng(seed).normal(0, sd, n))
