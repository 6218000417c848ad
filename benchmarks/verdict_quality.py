"""Verdict quality: false-fail rate, inconclusive rate and power of perfgate's judge,
side by side with the naive methods, on the same simulated gates.

    python benchmarks/verdict_quality.py                 # 1,000 gates per condition and design
    python benchmarks/verdict_quality.py --quick         # < 1 minute
    python benchmarks/verdict_quality.py --replay .perfgate   # recorded A/A runs from a store

Every simulated gate measures the default budget of pairs (10); perfgate judges
the 6 planned pairs and buys confirmation pairs look by look (6, 8, 10) exactly
as the gate does. Duet gates simulate the reference IM service as the regression
ladder measured it (``IM_LADDER``: ~180 logins and ~900 sends per side and round,
with the ladder's per-pair noise). The naive methods see the same data:

* compare.py  (google/benchmark): Mann-Whitney U on the pooled samples of the
  6 planned pairs, per request name, two-sided p < 0.05 with the candidate slower;
* asv: ratio of p50, p95 or p99 of the pooled samples > 1.10 and pooled MWU p < 0.002;
* gab (github-action-benchmark): the p95 of one run (the first pair) > 1.10 x baseline.

A gate "fails" (red) if any metric of any name fails. Gate number g uses the
same random draws in every condition, so conditions differ only by the shift.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np
from scipy.stats import mannwhitneyu

from perfgate.config import JudgeConfig, RoundsConfig
from perfgate.formatting import verdict_text
from perfgate.judge import round_metrics
from perfgate.judge.simulate import (
    IM_LADDER,
    MEASURED_NOISE,
    NoiseModel,
    Shift,
    calibrate,
    ratio_noise,
    run_gate,
    simulate_gate,
)
from perfgate.model import Design, Side, State

PLANNED, BUDGET = RoundsConfig().count, RoundsConfig().max  # the defaults: 6 planned, budget 10
NAIVE = ("compare.py", "asv", "gab")
CONDITIONS = (
    [Shift()] + [Shift(q, s) for q in ("p50", "p95", "p99") for s in (0.05, 0.10, 0.20)] + [Shift("error_rate", 0.02)]
)


def label(shift: Shift) -> str:
    if shift.metric == "none":
        return "A/A (no change)"
    if shift.metric == "error_rate":
        return f"errors +{shift.size * 100:g} pp (login)"
    return f"{shift.metric} +{shift.size * 100:g}% (login)"


# --- the naive methods -------------------------------------------------------


def naive_flags(
    pooled: dict[tuple[str, int], np.ndarray], first: dict[tuple[str, int], np.ndarray], names: list[str]
) -> dict[str, bool]:
    """Flags of the naive methods; ``pooled``/``first`` map (name, side 0/1) to latencies."""
    flags = dict.fromkeys(NAIVE, False)
    for name in names:
        b, c = pooled[(name, 0)], pooled[(name, 1)]
        p = mannwhitneyu(c, b, alternative="two-sided").pvalue
        if p < 0.05 and np.median(c) > np.median(b):
            flags["compare.py"] = True
        qb, qc = np.quantile(b, [0.5, 0.95, 0.99]), np.quantile(c, [0.5, 0.95, 0.99])
        if p < 0.002 and (qc / qb > 1.10).any():
            flags["asv"] = True
        if np.quantile(first[(name, 1)], 0.95) > 1.10 * np.quantile(first[(name, 0)], 0.95):
            flags["gab"] = True
    return flags


# --- simulated gates ---------------------------------------------------------


def run_chunk(task: tuple) -> list[dict]:
    model, shift, gates, seed, design_id, cond_id, config, looks = task
    names = [e.name for e in model.endpoints]
    out = []
    for g in gates:
        rng = np.random.default_rng([seed, design_id, g])  # same draws in every condition
        metrics, latency, endpoint = simulate_gate(rng, model, shift, pairs=BUDGET)
        outcome = run_gate(metrics, config, planned=PLANNED, budget=BUDGET, looks=looks)
        pooled = {(n, s): latency[:PLANNED, s][endpoint[:PLANNED, s] == i] for i, n in enumerate(names) for s in (0, 1)}
        first = {(n, s): latency[0, s][endpoint[0, s] == i] for i, n in enumerate(names) for s in (0, 1)}
        out.append({"state": outcome.verdict.state, "pairs": outcome.pairs, **naive_flags(pooled, first, names)})
    return out


def simulate(args: argparse.Namespace, config: JudgeConfig) -> dict:
    designs = [Design(d) for d in (("duet", "interleaved") if args.design == "both" else (args.design,))]
    results: dict[tuple[str, str], list[dict]] = defaultdict(list)
    models = {}
    for design in designs:
        shape = IM_LADDER if design is Design.DUET else NoiseModel(design=design)
        models[design] = calibrate(replace(shape, design=design), seed=args.seed, pairs=600)
        achieved = ratio_noise(np.random.default_rng(args.seed + 1), models[design], pairs=600)
        target = MEASURED_NOISE[design]
        print(
            f"{design.value:>11} round noise (sd of per-pair log ratio): "
            + ", ".join(f"{q} {achieved[q]:.1%} (measured {target[q]:.1%})" for q in target),
            flush=True,
        )
    tasks = []
    chunk = max(args.gates // (4 * args.jobs), 10)
    for d, design in enumerate(designs):
        for c, shift in enumerate(CONDITIONS):
            for start in range(0, args.gates, chunk):
                gates = range(start, min(start + chunk, args.gates))
                tasks.append((models[design], shift, gates, args.seed, d, c, config, args.looks))
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for task, rows in zip(tasks, pool.map(run_chunk, tasks)):
            results[(task[0].design.value, label(task[1]))].extend(rows)
    return results


def print_table(results: dict, designs: list[str], gates: int) -> None:
    head = (
        f"{'condition':<24}{'design':>12} | {'perfgate red':>12} {'yellow':>7} {'pass':>6} {'pairs':>6} | "
        f"{'compare.py':>10} {'asv':>6} {'gab':>6}"
    )
    print(
        f"\n{gates} gates per row; red = gate fails (false fail on A/A, power on a shift); "
        "yellow = inconclusive; pairs = mean pairs measured"
    )
    print(head)
    print("-" * len(head))
    for shift in CONDITIONS:
        for design in designs:
            rows = results.get((design, label(shift)))
            if not rows:
                continue
            n = len(rows)
            red = sum(r["state"] is State.REGRESSION for r in rows) / n
            yellow = sum(r["state"] is State.INCONCLUSIVE for r in rows) / n
            naive = [sum(r[m] for r in rows) / n for m in NAIVE]
            print(
                f"{label(shift):<24}{design:>12} | {red:>12.1%} {yellow:>7.1%} {max(1 - red - yellow, 0.0):>6.1%} "
                f"{np.mean([r['pairs'] for r in rows]):>6.1f} | "
                + " ".join(f"{x:>{w}.1%}" for x, w in zip(naive, (10, 6, 6)))
            )


# --- replay of recorded rounds from a store ----------------------------------


def replay(path: str, config: JudgeConfig, resample: int, seed: int, aa_runs: tuple[str, ...] = ()) -> None:
    """Judge every stored A/A run as the gate would, and resampled A/A gates from their pairs."""
    from perfgate.store import LocalStore

    store = LocalStore(path)
    runs = [r for r in store.list_runs() if r.run_id in aa_runs or _is_aa(store, r.run_id)]
    print(f"{path}: {len(runs)} A/A runs")
    pool: dict[str, list[list]] = defaultdict(list)  # scenario -> pairs of RoundMetrics lists
    outcomes, naive_hits = [], dict.fromkeys(NAIVE, 0)
    for run in runs:
        metrics, raw = [], defaultdict(list)
        for record in store.rounds(run.run_id):
            if not record.valid:
                continue
            frame = store.samples(run.run_id, record.index)
            metrics.extend(round_metrics(frame, record))
            measured = frame[~frame["warmup"].astype(bool) & frame["ok"].astype(bool)]
            for (side, name), group in measured.groupby(["side", "name"]):
                raw[(record.scenario, record.pair, name, 0 if side == Side.BASELINE.value else 1)].append(
                    group["latency_us"].to_numpy(float)
                )
        outcome = run_gate(metrics, config, planned=PLANNED, budget=BUDGET)
        outcomes.append(outcome.verdict.state)
        flags = _replay_naive(raw)
        for m in NAIVE:
            naive_hits[m] += flags[m]
        print(
            f"  {run.run_id}: {outcome.verdict.state.value} after {outcome.pairs} pairs: {verdict_text(outcome.verdict)}"
        )
        by_pair = defaultdict(list)
        for m in metrics:
            by_pair[(m.scenario, m.pair)].append(m)
        for (scenario, _), items in sorted(by_pair.items()):
            pool[scenario].append(items)
    if outcomes:
        n = len(outcomes)
        print(
            f"stored A/A runs: false fail {sum(s is State.REGRESSION for s in outcomes) / n:.1%}, "
            f"inconclusive {sum(s is State.INCONCLUSIVE for s in outcomes) / n:.1%} of {n}; naive false fail: "
            + ", ".join(f"{m} {naive_hits[m] / n:.1%}" for m in NAIVE)
        )
    rng = np.random.default_rng(seed)
    for scenario, pairs in pool.items():
        if len(pairs) < PLANNED or not resample:
            print(f"{scenario}: {len(pairs)} recorded pairs; resampling needs at least {PLANNED}")
            continue
        states = []
        for _ in range(resample):
            chosen = rng.choice(len(pairs), size=min(BUDGET, len(pairs)), replace=False)
            gate = []
            for k, index in enumerate(chosen):
                swap = rng.random() < 0.5  # A/A: the side labels are exchangeable
                for m in pairs[index]:
                    side = m.side if not swap else (Side.CANDIDATE if m.side is Side.BASELINE else Side.BASELINE)
                    gate.append(replace(m, pair=k, side=side, round_index=k))
            states.append(run_gate(gate, config, planned=PLANNED, budget=min(BUDGET, len(pairs))).verdict.state)
        n = len(states)
        print(
            f"{scenario}: {n} A/A gates resampled from {len(pairs)} recorded pairs: false fail "
            f"{sum(s is State.REGRESSION for s in states) / n:.1%}, inconclusive "
            f"{sum(s is State.INCONCLUSIVE for s in states) / n:.1%}"
        )


def _is_aa(store, run_id: str) -> bool:
    manifest = store.manifest(run_id)
    if manifest.kind == "aa":
        return True
    base, cand = manifest.baseline, manifest.candidate
    return bool(base.sha) and base.sha == cand.sha and not cand.dirty


def _replay_naive(raw: dict) -> dict[str, bool]:
    names = sorted({(k[0], k[2]) for k in raw})
    pooled, first = {}, {}
    for scenario, name in names:
        for s in (0, 1):
            pairs = sorted(k[1] for k in raw if k[0] == scenario and k[2] == name and k[3] == s)
            if not pairs:
                return dict.fromkeys(NAIVE, False)
            pooled[(f"{scenario}/{name}", s)] = np.concatenate(
                [x for p in pairs[:PLANNED] for x in raw[(scenario, p, name, s)]]
            )
            first[(f"{scenario}/{name}", s)] = np.concatenate(raw[(scenario, pairs[0], name, s)])
    return naive_flags(pooled, first, [f"{s}/{n}" for s, n in names])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gates", type=int, default=1000, help="simulated gates per condition and design")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="150 gates per row, in under a minute")
    parser.add_argument("--design", choices=("duet", "interleaved", "both"), default="both")
    parser.add_argument("--margin", type=float, default=None, help="judge margin (default: the config default, 5%%)")
    parser.add_argument("--margins", default="", help="per-metric margins, e.g. p50=0.02,p99=0.1")
    parser.add_argument("--looks", type=int, default=3, help="looks from the planned pairs to the budget")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--replay", metavar="STORE", help="judge recorded A/A runs from a perfgate store")
    parser.add_argument(
        "--aa-runs",
        default="",
        help="run ids to treat as A/A in --replay mode (e.g. a comparison across a docs-only commit)",
    )
    parser.add_argument("--resample", type=int, default=1000, help="resampled A/A gates in --replay mode")
    args = parser.parse_args(argv)
    margins = {k: float(v) for k, v in (item.split("=") for item in args.margins.split(",") if item)}
    config = JudgeConfig(margin=JudgeConfig().margin if args.margin is None else args.margin, margins=margins)
    started = time.perf_counter()
    if args.replay:
        replay(args.replay, config, args.resample, args.seed, tuple(filter(None, args.aa_runs.split(","))))
        return 0
    if args.quick:
        args.gates = min(args.gates, 150)
    print(
        f"judge: margin {config.margin:.0%} {config.margins or ''}, confidence {config.confidence:.0%}, "
        f"metrics {', '.join(config.metrics)}; {PLANNED} planned pairs, budget {BUDGET}, {args.looks} looks; "
        f"seed {args.seed}",
        flush=True,
    )
    results = simulate(args, config)
    designs = [d for d in ("duet", "interleaved") if any(k[0] == d for k in results)]
    print_table(results, designs, args.gates)
    print(f"\n{time.perf_counter() - started:.0f} s on {args.jobs} processes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
