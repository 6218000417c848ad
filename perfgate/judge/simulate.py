"""Simulated gates with realistic latency data, for the validation harness.

A round's latencies come from a latent Gaussian stream with AR(1)
autocorrelation, mapped through a heavy-tailed quantile function (a floor plus
a lognormal body, spliced to a Pareto tail) and scaled by round-level noise:

* machine noise per round: shared by both sides in the duet design (it
  cancels in the ratio), independent per round when the sides are interleaved,
  plus a slow random-walk drift between rounds;
* per-side noise that no design cancels, on the level and on the tail;
  :func:`calibrate` sets both so that the per-round B/A ratio noise of the
  p50/p95/p99 matches what was measured on this machine;
* an occasional hiccup: a burst of stalled requests in one side (or, in the
  duet design, sometimes in both).

A shift makes the candidate slower at a chosen quantile and above by a
monotone transform of the latent rank, so the population quantile moves by
exactly that factor. Everything is seeded; nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import ndtr, ndtri

from perfgate.config import JudgeConfig
from perfgate.judge.compare import judge
from perfgate.judge.rounds import QUANTILES
from perfgate.judge.sequential import LOOKS, pairs_to_buy
from perfgate.model import Design, Revision, RoundMetrics, RoundRecord, Side, State, Verdict

#: Per-pair B/A ratio noise (sd of the log ratio) of a quiet single-endpoint service, as first
#: measured on this machine: what the judge's mechanics are tested against.
QUIET_NOISE: dict[Design, dict[str, float]] = {
    Design.INTERLEAVED: {"p50": 0.092, "p95": 0.119, "p99": 0.138},
    Design.DUET: {"p50": 0.026, "p95": 0.030, "p99": 0.037},
}
#: Per-pair noise of the reference IM service on the regression ladder (20 recorded A/A pairs, the
#: default profile and placement; ``benchmarks/real_power.py analyse --noise``): its send requests.
MEASURED_NOISE: dict[Design, dict[str, float]] = {
    Design.INTERLEAVED: QUIET_NOISE[Design.INTERLEAVED],
    Design.DUET: {"p50": 0.075, "p95": 0.085, "p99": 0.170},
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    median_us: float
    share: float  # of the requests of a round


@dataclass(frozen=True)
class NoiseModel:
    design: Design = Design.DUET
    samples: int = 3000  # requests per side per round, all endpoints
    duration_s: float = 10.0
    endpoints: tuple[Endpoint, ...] = (Endpoint("login", 4000.0, 0.5), Endpoint("send", 1500.0, 0.5))
    floor: float = 0.5  # share of the median that is a fixed service time
    body_sigma: float = 0.25  # lognormal sigma of the variable part
    tail_from: float = 0.997  # quantile where the Pareto tail takes over
    tail_alpha: float = 2.5
    ar_phi: float = 0.4  # AR(1) coefficient of the latent stream within a round
    machine_sd: float = 0.06  # per-round machine noise (shared by the sides in a duet)
    drift_sd: float = 0.02  # random-walk step between consecutive rounds
    level_sd: float = 0.0  # per-side level noise (calibrated)
    tail_sd: float = 0.0  # per-side tail noise (calibrated)
    hiccup_rate: float = 0.03  # hiccups per round
    hiccup_shared: float = 0.5  # in a duet, chance that a hiccup hits both sides
    hiccup_share: float = 0.005  # share of the round's requests stalled
    hiccup_factor: tuple[float, float] = (1.5, 3.0)
    error_rate: float = 0.002
    error_sd: float = 0.5  # round-to-round log-sd of the error rate
    elasticity: float = 0.5  # closed loop: log throughput moves by -elasticity x log mean latency
    throughput_sd: float = 0.005  # per-side throughput noise beyond the latency-driven part


#: The reference IM service as the ladder measures it: per side and round, ~180 logins (p50
#: ~45 ms) and ~900 sends (p50 ~5 ms) in 10 s; calibrated to the ladder's duet noise.
IM_LADDER = NoiseModel(samples=1080, endpoints=(Endpoint("login", 45000.0, 0.164), Endpoint("send", 5000.0, 0.836)))


@dataclass(frozen=True)
class Shift:
    """The candidate's change: ``metric`` in p50/p95/p99/error_rate, ``size`` relative (or absolute for errors)."""

    metric: str = "none"
    size: float = 0.0
    endpoint: str = "login"


def _shift_ramp(u: np.ndarray, metric: str) -> np.ndarray:
    """Weight in [0, 1] of the shift at latent rank ``u``: 1 from the shifted quantile upwards."""
    if metric == "p50":
        return np.ones_like(u)
    lo, hi = {"p95": (0.75, 0.95), "p99": (0.95, 0.99)}[metric]
    return np.clip((u - lo) / (hi - lo), 0.0, 1.0)


def log_quantile(u: np.ndarray, model: NoiseModel) -> np.ndarray:
    """Log of the standard latency shape (median 1) at rank ``u``."""
    z_tail = ndtri(model.tail_from)
    body = np.log(model.floor + (1 - model.floor) * np.exp(model.body_sigma * ndtri(np.minimum(u, model.tail_from))))
    tail = np.log(np.maximum(1 - model.tail_from, 1e-300) / np.maximum(1 - u, 1e-12)) / model.tail_alpha
    at_tail = np.log(model.floor + (1 - model.floor) * math.exp(model.body_sigma * z_tail))
    logq: np.ndarray = np.where(u <= model.tail_from, body, at_tail + tail)
    return logq


def _latent(rng: np.random.Generator, shape: tuple[int, ...], phi: float) -> np.ndarray:
    """Stationary AR(1) N(0, 1) streams along the last axis."""
    innovations = rng.standard_normal(shape)
    start = rng.standard_normal(shape[:-1] + (1,))
    return lfilter([math.sqrt(1 - phi * phi)], [1.0, -phi], innovations, axis=-1, zi=phi * start)[0]


def simulate_latencies(
    rng: np.random.Generator, model: NoiseModel, shift: Shift, pairs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latencies (pairs, 2 sides, samples), endpoint index per sample, and the per-side log level.

    Side 0 is the baseline, side 1 the candidate.
    """
    n = model.samples
    u = ndtr(_latent(rng, (pairs, 2, n), model.ar_phi))
    # Endpoint labels in random order, fixed counts per round.
    counts = np.round(np.array([e.share for e in model.endpoints]) / sum(e.share for e in model.endpoints) * n)
    counts[-1] = n - counts[:-1].sum()
    labels = np.repeat(np.arange(len(model.endpoints)), counts.astype(int))
    endpoint = np.take_along_axis(
        np.broadcast_to(labels, (pairs, 2, n)), np.argsort(rng.random((pairs, 2, n)), axis=-1), axis=-1
    )
    level = _round_levels(rng, model, pairs)  # (pairs, 2)
    tail = model.tail_sd * rng.standard_normal((pairs, 2))
    log_x = log_quantile(u, model) + level[..., None] + tail[..., None] * np.clip((u - 0.5) / 0.49, 0, 1)
    log_x += np.log(np.array([e.median_us for e in model.endpoints]))[endpoint]
    if shift.metric in ("p50", "p95", "p99") and shift.size:
        target = [e.name for e in model.endpoints].index(shift.endpoint)
        hit = endpoint[:, 1] == target
        log_x[:, 1] += np.where(hit, math.log1p(shift.size) * _shift_ramp(u[:, 1], shift.metric), 0.0)
    log_x += _hiccups(rng, model, pairs)
    return np.exp(log_x), endpoint, level


def _round_levels(rng: np.random.Generator, model: NoiseModel, pairs: int) -> np.ndarray:
    """Log level of each side in each pair: machine noise, drift, per-side noise."""
    own = model.level_sd * rng.standard_normal((pairs, 2))
    if model.design is Design.DUET:
        machine = model.machine_sd * rng.standard_normal((pairs, 1))
        drift = np.cumsum(model.drift_sd * rng.standard_normal(pairs))[:, None]
        return machine + drift + own
    # Interleaved: rounds run one after the other, in a random order within each pair.
    machine = model.machine_sd * rng.standard_normal((pairs, 2))
    drift = np.cumsum(model.drift_sd * rng.standard_normal(2 * pairs)).reshape(pairs, 2)
    swap = rng.random(pairs) < 0.5
    drift[swap] = drift[swap][:, ::-1]
    return machine + drift + own


def _hiccups(rng: np.random.Generator, model: NoiseModel, pairs: int) -> np.ndarray:
    """Additive log stalls: a contiguous burst in one side, or in both (duet, shared hiccups)."""
    n = model.samples
    out = np.zeros((pairs, 2, n))
    width = max(int(model.hiccup_share * n), 1)
    rounds_per_pair = 1 if model.design is Design.DUET else 2
    for p in range(pairs):
        for r in range(rounds_per_pair):
            if rng.random() >= model.hiccup_rate:
                continue
            if model.design is Design.DUET:
                sides = [0, 1] if rng.random() < model.hiccup_shared else [int(rng.integers(2))]
            else:
                sides = [r]
            start = int(rng.integers(0, n - width + 1))
            out[p, sides, start : start + width] += math.log(rng.uniform(*model.hiccup_factor))
    return out


def simulate_gate(
    rng: np.random.Generator, model: NoiseModel, shift: Shift = Shift(), *, pairs: int = 12, scenario: str = "sim"
) -> tuple[list[RoundMetrics], np.ndarray, np.ndarray]:
    """Round metrics of one simulated gate, plus the raw latencies and endpoint labels.

    Equivalent to :func:`perfgate.judge.rounds.round_metrics` on the samples
    (quantiles with the same interpolation), computed in bulk for speed.
    """
    latency, endpoint, level = simulate_latencies(rng, model, shift, pairs)
    out: list[RoundMetrics] = []
    qs = list(QUANTILES.values())
    for e, ep in enumerate(model.endpoints):
        mask = endpoint == e
        per = int(mask[0, 0].sum())
        values = latency[mask].reshape(pairs, 2, per)
        quantiles = np.quantile(values, qs, axis=-1)  # (q, pairs, 2)
        means = values.mean(axis=-1)
        # Closed loop: throughput follows the inverse mean latency, partly (think time).
        shifted = shift.endpoint == ep.name and shift.metric in ("p50", "p95", "p99")
        mean_shift = math.log1p(shift.size) * {"p50": 1.0, "p95": 0.15, "p99": 0.03}.get(shift.metric, 0.0)
        log_tp = -model.elasticity * (level + np.array([0.0, mean_shift if shifted else 0.0]))
        jitter = model.throughput_sd * rng.standard_normal((pairs, 2))
        throughput = per / model.duration_s * np.exp(log_tp + jitter)
        error_p = model.error_rate * np.exp(model.error_sd * rng.standard_normal((pairs, 2)) - model.error_sd**2 / 2)
        if shift.metric == "error_rate" and shift.endpoint == ep.name:
            error_p[:, 1] += shift.size
        errors = rng.binomial(per, np.clip(error_p, 0, 1))
        for p in range(pairs):
            for s, side in enumerate((Side.BASELINE, Side.CANDIDATE)):
                v = {k: float(quantiles[i, p, s]) for i, k in enumerate(QUANTILES)}
                v.update(
                    mean=float(means[p, s]), throughput=float(throughput[p, s]), error_rate=float(errors[p, s] / per)
                )
                index = p if model.design is Design.DUET else 2 * p + s
                out.append(RoundMetrics(index, p, scenario, side, ep.name, v, per, int(errors[p, s])))
    return out, latency, endpoint


def ratio_noise(rng: np.random.Generator, model: NoiseModel, pairs: int = 400) -> dict[str, float]:
    """Sd of the per-pair log ratio candidate/baseline of p50/p95/p99 per endpoint, on A/A data (mean)."""
    metrics, _, _ = simulate_gate(rng, model, Shift(), pairs=pairs)
    out = {}
    for q in ("p50", "p95", "p99"):
        sds = []
        for ep in model.endpoints:
            b = np.array([m.values[q] for m in metrics if m.name == ep.name and m.side is Side.BASELINE])
            c = np.array([m.values[q] for m in metrics if m.name == ep.name and m.side is Side.CANDIDATE])
            sds.append(np.log(c / b).std(ddof=1))
        out[q] = float(np.mean(sds))
    return out


def calibrate(
    model: NoiseModel, targets: dict[str, float] | None = None, *, seed: int = 0, pairs: int = 400
) -> NoiseModel:
    """Set ``level_sd`` (from the p50) and ``tail_sd`` (from the p99) to match the measured ratio noise.

    Sampling noise, drift, hiccups and machine noise (for interleaved rounds)
    are measured first with the per-side noise off; the per-side noise makes up
    the rest. Hiccups are part of the measured noise, not added on top of it.
    """
    targets = targets or MEASURED_NOISE[model.design]
    quiet = replace(model, level_sd=0.0, tail_sd=0.0)
    base = ratio_noise(np.random.default_rng(seed), quiet, pairs)
    level_var = max(targets["p50"] ** 2 - base["p50"] ** 2, 0.0) / 2
    tail_var = max(targets["p99"] ** 2 - base["p99"] ** 2 - 2 * level_var, 0.0) / 2
    return replace(model, level_sd=math.sqrt(level_var), tail_sd=math.sqrt(tail_var))


@dataclass(frozen=True)
class GateOutcome:
    verdict: Verdict
    pairs: int  # pairs measured, confirmation pairs included
    looks: int


def run_gate(
    metrics: Sequence[RoundMetrics], config: JudgeConfig, *, planned: int = 6, budget: int = 12, looks: int = LOOKS
) -> GateOutcome:
    """Replay the gate's sequential design (:func:`pairs_to_buy`) over pre-measured pairs:
    judge the planned pairs, then buy confirmation pairs look by look (one scenario per gate here)."""
    rev = Revision("sim", "0" * 40)
    available = max((m.pair for m in metrics), default=-1) + 1
    scenarios = {m.scenario for m in metrics}
    pairs, look = min(planned, available), 1
    while True:
        used = [m for m in metrics if m.pair < pairs]
        verdict = judge(used, config, rev, rev, planned_pairs=planned, budget_pairs=budget, looks=looks)
        undecided = {m.scenario for m in verdict.metrics if m.verdict is State.INCONCLUSIVE}
        buy = pairs_to_buy(
            dict.fromkeys(scenarios, pairs),
            undecided,
            planned,
            budget,
            red=verdict.state is State.REGRESSION,
            looks=looks,
        )
        if not buy or pairs >= available:
            return GateOutcome(verdict, pairs, look)
        pairs, look = min(pairs + max(buy.values()), available), look + 1


# --- samples as the recorder writes them (for replaying through a real store) ---


def round_frames(
    rng: np.random.Generator,
    model: NoiseModel,
    shift: Shift = Shift(),
    *,
    pairs: int = 6,
    run_id: str = "sim",
    scenario: str = "sim",
    start_ns: int = 1_700_000_000 * 10**9,
    warmup_s: float = 1.0,
) -> list[tuple[RoundRecord, pd.DataFrame]]:
    """Whole rounds (record + SAMPLE_SCHEMA frame), with warm-up rows flagged, one round per pair (duet)
    or two (interleaved)."""
    latency, endpoint, _ = simulate_latencies(rng, model, shift, pairs)
    names = np.array([e.name for e in model.endpoints])
    out: list[tuple[RoundRecord, pd.DataFrame]] = []
    window_ns = int(model.duration_s * 1e9)
    warm_ns = int(warmup_s * 1e9)
    sides = (Side.BASELINE, Side.CANDIDATE)
    for p in range(pairs):
        layout = [(0, 1)] if model.design is Design.DUET else ([(0,), (1,)] if rng.random() < 0.5 else [(1,), (0,)])
        for in_round in layout:
            index = len(out)
            begin = start_ns + index * (window_ns + warm_ns + 10**9)
            frames = []
            for s in in_round:
                n = model.samples
                n_warm = n // 10
                ok = rng.random(n + n_warm) >= model.error_rate
                frames.append(
                    pd.DataFrame(
                        {
                            "t_ns": np.concatenate(
                                [
                                    begin + np.linspace(0, warm_ns, n_warm, endpoint=False),
                                    begin + warm_ns + np.linspace(0, window_ns, n, endpoint=False),
                                ]
                            ).astype(np.int64),
                            "latency_us": np.concatenate([latency[p, s, :n_warm] * 3, latency[p, s]]),
                            "name": np.concatenate([names[endpoint[p, s, :n_warm]], names[endpoint[p, s]]]),
                            "type": "GET",
                            "ok": ok,
                            "bytes": np.full(n + n_warm, 100, dtype=np.int64),
                            "error": np.array([None if good else "HTTPError" for good in ok], dtype=object),
                            "side": sides[s].value,
                            "warmup": np.arange(n + n_warm) < n_warm,
                        }
                    )
                )
            record = RoundRecord(
                run_id=run_id,
                index=index,
                scenario=scenario,
                design=model.design,
                sides=tuple(sides[s] for s in in_round),
                pair=p,
                started_ns=begin,
                measure_start_ns=begin + warm_ns,
                ended_ns=begin + warm_ns + window_ns,
            )
            out.append((record, pd.concat(frames, ignore_index=True)))
    return out
