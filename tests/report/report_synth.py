"""Synthetic gate runs written through the real store API, for the report's tests
and its benchmark. Nothing here is mocked: a LocalStore is created, rounds with
Parquet samples and resources are saved, and a verdict in the codec schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from perfgate import codec
from perfgate.codec import manifest_from_dict
from perfgate.model import (
    RESOURCE_SCHEMA,
    SAMPLE_SCHEMA,
    Basis,
    Design,
    MetricComparison,
    Note,
    NoteKind,
    Reason,
    Revision,
    RoundRecord,
    Side,
    State,
    Verdict,
    Window,
)
from perfgate.store.local import LocalStore

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"> & "quotes" \'apos\' $x$ | `tick` *b*'
T0 = 1_760_000_000_000_000_000  # ns epoch


@dataclass
class SynthSpec:
    run_id: str = "20250101T000000-abc123"
    scenario: str = "chat"
    names: tuple[str, ...] = ("login", "send_message", "history", "presence")
    planned_pairs: int = 6
    confirmation_pairs: int = 2
    invalid_round: int | None = 3  # index of a round marked invalid
    per_side: int = 10_000  # samples per side per round (warm-up included)
    round_s: float = 12.0
    warmup_s: float = 2.0
    regressed: dict[str, float] = field(default_factory=lambda: {"send_message": 1.25})
    subject: str = "Batch presence updates"
    author: str = "Ada Lovelace <ada@example.org>"
    error_text: str = "ConnectionResetError(104, 'Connection reset by peer')"
    seed: int = 7
    design: Design = Design.DUET
    scenarios: tuple[str, ...] = ()  # several scenarios; empty: just ``scenario``
    empty_round: int | None = None  # index of a round with no samples (target never became ready)
    resources: bool = True
    repository_url: str = ""  # the manifest's repository page
    extra: str = ""  # appended to window labels, invalid reasons, notes, command, machine, branch labels
    metrics: tuple[str, ...] = ("p50", "p95", "p99", "throughput", "error_rate")


def manifest_for(spec: SynthSpec) -> dict:
    return {
        "run_id": spec.run_id,
        "created": "2025-01-01T00:00:00+00:00",
        "baseline": {
            "label": "main",
            "sha": "a" * 40,
            "subject": "Previous release",
            "author": "Grace Hopper",
            "date": "2024-12-31T10:00:00+00:00",
            "dirty": False,
        },
        "candidate": {
            "label": "HEAD" + spec.extra,
            "sha": "b" * 40,
            "subject": spec.subject,
            "author": spec.author,
            "date": "2025-01-01T09:00:00+00:00",
            "dirty": False,
        },
        "config": {
            "path": "perfgate.toml",
            "judge": {"margin": 0.05, "confidence": 0.95},
            "rounds": {"design": "duet", "count": spec.planned_pairs},
        },
        "config_hash": "0123456789abcdef",
        "fingerprint": "fp-linux-2cpu",
        "machine": {
            "hostname": "ci-runner" + spec.extra,
            "cpu_count": 2,
            "cpu_model": "Synthetic CPU",
            "memory_bytes": 24 * 2**30,
            "platform": "Linux-6.1-x86_64",
        },
        "versions": {"perfgate": "0.1.0", "locust": "2.47.0", "python": "3.11.2"},
        "command": "perfgate run --baseline main --candidate HEAD --json out.json" + spec.extra,
        "design": spec.design.value,
        "scenarios": list(spec.scenarios or (spec.scenario,)),
        "repository_url": spec.repository_url,
    }


def _round_tables(spec: SynthSpec, record: RoundRecord, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    drift = math.exp(rng.normal(0, 0.04))  # shared by both sides: the point of duet rounds
    cols: dict[str, list] = {k: [] for k in SAMPLE_SCHEMA.names}
    span = record.ended_ns - record.started_ns
    fault = [w for w in record.windows if w.kind == "fault"]
    for side in record.sides:
        n = spec.per_side
        t = record.started_ns + np.sort(rng.integers(0, span, n))
        which = rng.integers(0, len(spec.names), n)
        names = np.array(spec.names, dtype=object)[which]
        base = 1500.0 * (1 + which)
        factor = np.ones(n)
        if side == Side.CANDIDATE:
            for name, mult in spec.regressed.items():
                factor[names == name] = mult
        lat = base * factor * drift * rng.lognormal(0.0, 0.5, n)
        ok = rng.random(n) > 0.004
        for w in fault:
            inside = (t >= w.start_ns) & (t < w.end_ns)
            lat[inside] *= 3.0
            ok[inside] &= rng.random(int(inside.sum())) > 0.05
        cols["t_ns"].append(t)
        cols["latency_us"].append(lat)
        cols["name"].append(names)
        cols["type"].append(np.where(names == "login", "POST", "GET"))
        cols["ok"].append(ok)
        cols["bytes"].append(rng.integers(100, 2000, n))
        cols["error"].append(np.where(ok, None, spec.error_text))
        cols["side"].append(np.full(n, side.value))
        cols["warmup"].append(t < record.measure_start_ns)
    samples = pa.table({k: np.concatenate(v) for k, v in cols.items()}, schema=SAMPLE_SCHEMA)
    steps = np.arange(record.started_ns, record.ended_ns, 500_000_000)
    res: dict[str, list] = {k: [] for k in RESOURCE_SCHEMA.names}
    for side in record.sides:
        m = len(steps)
        res["t_ns"].append(steps)
        res["side"].append(np.full(m, side.value))
        res["process"].append(np.full(m, "target"))
        res["cpu_percent"].append(rng.normal(45 if side == Side.CANDIDATE else 40, 4, m))
        res["rss_bytes"].append((80 * 2**20 + np.arange(m) * 2**16).astype(np.int64))
        res["connections"].append(np.full(m, 8.0))
        q = rng.poisson(3, m).astype(float)
        for w in fault:
            q[(steps >= w.start_ns) & (steps < w.end_ns)] += 40
        res["queue_depth"].append(q)
        res["mode"].append(np.full(m, "read-write", dtype=object))
        res["cpu_time_s"].append(np.cumsum(np.full(m, 0.5 * (0.45 if side == Side.CANDIDATE else 0.40))))
    resources = pa.table({k: np.concatenate(v) for k, v in res.items()}, schema=RESOURCE_SCHEMA)
    return samples, resources


def _comparison(spec: SynthSpec, scenario: str, name: str, metric: str, rng: np.random.Generator) -> MetricComparison:
    mult = spec.regressed.get(name, 1.0)
    base = 1500.0 * (1 + spec.names.index(name))
    z = {"p50": 0.0, "p95": 1.645, "p99": 2.326}
    if metric in z:
        b = base * math.exp(0.5 * z[metric])
        higher = False
    elif metric == "throughput":
        b, mult, higher = spec.per_side / len(spec.names) / spec.round_s, 1.0, True
    else:
        b, mult, higher = 0.004, 1.0, False
    ratio = mult * math.exp(rng.normal(0, 0.01))
    half = 0.03 if metric != "p99" else 0.07
    low, high = ratio - half, ratio + half
    margin = 0.05
    if higher:
        state = State.PASS if low > 1 - margin else (State.REGRESSION if high < 1 - margin else State.INCONCLUSIVE)
    elif low > 1 + margin:
        state = State.REGRESSION
    elif high < 1 - margin:
        state = State.IMPROVEMENT
    elif high < 1 + margin:
        state = State.PASS
    else:
        state = State.INCONCLUSIVE
    candidate = b * ratio
    if metric == "error_rate":
        # as the judge does: a difference (candidate - baseline) against an absolute tolerance
        margin = 0.005
        diff = 0.0016 if name == spec.names[-1] else float(rng.normal(0, 0.0003))
        candidate, ratio = b + diff, (b + diff) / b
        half = 0.0046 if name == spec.names[-1] else 0.002
        low, high = diff - half, diff + half
        state = State.INCONCLUSIVE if high > margin else State.PASS
    reason = {
        State.REGRESSION: "CI above the margin",
        State.PASS: "CI within the margin",
        State.IMPROVEMENT: "CI below the margin: faster",
        State.INCONCLUSIVE: "CI straddles the margin",
    }[state]
    return MetricComparison(
        scenario=scenario,
        name=name,
        metric=metric,
        baseline=b,
        candidate=candidate,
        ratio=ratio,
        ci_low=low,
        ci_high=high,
        p_value=float(rng.uniform(0.0001, 0.5)),
        verdict=state,
        why=Reason(Basis.STORED, text=reason),
        margin=margin,
        rounds=spec.planned_pairs + spec.confirmation_pairs,
        higher_is_better=higher,
    )


def _plan(spec: SynthSpec) -> list[tuple[str, tuple[Side, ...], int, bool]]:
    """(scenario, sides, pair, confirmation) per round: duet pairs, or interleaved A B B A."""
    plan = []
    for scenario in spec.scenarios or (spec.scenario,):
        for pair in range(spec.planned_pairs + spec.confirmation_pairs):
            confirmation = pair >= spec.planned_pairs
            order = (Side.BASELINE, Side.CANDIDATE) if pair % 2 == 0 else (Side.CANDIDATE, Side.BASELINE)
            if spec.design == Design.DUET:
                plan.append((scenario, order, pair, confirmation))
            else:
                plan.extend((scenario, (side,), pair, confirmation) for side in order)
    return plan


def build_run(root: Path, spec: SynthSpec | None = None) -> tuple[LocalStore, str, Verdict]:
    """Write a whole synthetic run into a LocalStore at ``root``."""
    spec = spec or SynthSpec()
    rng = np.random.default_rng(spec.seed)
    store = LocalStore(root)
    run_id = store.create_run(manifest_from_dict(manifest_for(spec)))
    step = int((spec.round_s + 3.0) * 1e9)
    plan = _plan(spec)
    invalid = 0
    for i, (scenario, sides, pair, confirmation) in enumerate(plan):
        start = T0 + i * step
        end = start + int(spec.round_s * 1e9)
        windows: tuple[Window, ...] = ()
        if i == 1:
            windows = (Window("fault", "latency 50ms on gateway" + spec.extra, start + int(5e9), start + int(8e9)),)
        if i == 4:
            windows = (
                Window("storm", "reconnect storm", start + int(6e9), start + int(7e9)),
                Window("chaos", "pause target 0.5s", start + int(9e9), start + int(9.5e9)),
            )
        empty = i == spec.empty_round
        valid = i != spec.invalid_round and not empty
        invalid += not valid
        reason = (
            ""
            if valid
            else ("target failed its readiness probe" if empty else "load generator CPU 96% (above 90%)") + spec.extra
        )
        record = RoundRecord(
            run_id=run_id,
            index=i,
            scenario=scenario,
            design=spec.design,
            sides=sides,
            pair=pair,
            started_ns=start,
            measure_start_ns=start + int(spec.warmup_s * 1e9),
            ended_ns=end,
            valid=valid,
            invalid_reason=reason,
            confirmation=confirmation,
            generator_cpu=96.0 if not valid else 55.0,
            windows=windows,
        )
        samples, resources = _round_tables(spec, record, rng)
        if empty:
            samples = SAMPLE_SCHEMA.empty_table()
        store.save_round(record, samples, resources if spec.resources and not empty else None)
    metrics = tuple(
        _comparison(spec, sc, n, m, rng)
        for sc in spec.scenarios or (spec.scenario,)
        for n in spec.names
        for m in spec.metrics
    )
    state = (
        State.REGRESSION
        if any(m.verdict == State.REGRESSION for m in metrics)
        else State.INCONCLUSIVE
        if any(m.verdict == State.INCONCLUSIVE for m in metrics)
        else State.PASS
    )
    m = manifest_for(spec)
    invalid_note = "1 round was invalid (load generator saturated) and was re-run" + spec.extra
    verdict = Verdict(
        state=state,
        metrics=metrics,
        baseline=Revision(**m["baseline"]),
        candidate=Revision(**m["candidate"]),
        run_id=run_id,
        rounds=len(plan),
        invalid_rounds=invalid,
        confirmation_rounds=sum(c for *_, c in plan),
        notes=(Note(NoteKind.STORED, text=invalid_note),),
    )
    store.save_verdict(run_id, codec.verdict_to_dict(verdict))
    return store, run_id, verdict
