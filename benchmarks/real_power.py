"""The regression ladder: false alarms and power of the default gate, on real services with
real code changes (never sleeps), side by side with the naive methods on the same rounds.

    python benchmarks/real_power.py record --gates 10 --out /tmp/ladder     # whole default gates
    python benchmarks/real_power.py analyse --out /tmp/ladder              # the table

``record`` builds the ladder's repositories (``benchmarks/ladder.py``: the IM service and a
quote service, one branch per regression), then runs ``perfgate run --baseline main
--candidate BRANCH --no-reuse`` as a user would, ``--gates`` times per condition, cycling
through the conditions so that machine drift hits them all alike. Each gate's verdict JSON,
exit code and wall time are kept under ``--out``; its rounds stay in the repository's store.
``--set load.users=16`` (repeatable) tries a lever without editing perfgate's defaults.

``analyse`` reads them back and prints, per condition:

* the whole gates: red / yellow / green, mean pairs, median wall time;
* ``--resample`` gates (default 1,000) drawn from the condition's recorded pairs and judged
  through the same sequential design (planned pairs, then confirmation looks);
* on those same resampled rounds, the naive methods: compare.py (pooled Mann-Whitney,
  p < 0.05 and slower), asv (a pooled p50/p95/p99 ratio > 1.10 with MWU p < 0.002) and a
  one-run threshold (the first pair's p95 > 1.10x), each per request name.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ladder  # noqa: E402  (the benchmark's own helper, beside this file)
from verdict_quality import NAIVE, naive_flags  # noqa: E402

from perfgate.config import load_config  # noqa: E402
from perfgate.judge import resource_metrics, round_metrics  # noqa: E402
from perfgate.judge.simulate import run_gate  # noqa: E402
from perfgate.model import Side, State  # noqa: E402
from perfgate.store import LocalStore  # noqa: E402

COLOUR = {"regression": "red", "inconclusive": "yellow", "pass": "green"}


# --- record ----------------------------------------------------------------------------------


def parse_overrides(items: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = defaultdict(dict)
    for item in items:
        key, _, raw = item.partition("=")
        table, _, name = key.rpartition(".")
        out[table][name] = json.loads(raw) if raw[:1] in '[{"0123456789-tf' else raw
    return dict(out)


def record(args: argparse.Namespace) -> int:
    out = Path(args.out)
    chosen = [c for c in ladder.CONDITIONS if not args.only or c.name in args.only]
    repos_dir = out / "repos"
    if not (repos_dir / "sizes.json").exists():
        sizes = ladder.calibrate()
        print(f"calibrated on this machine: {sizes}", flush=True)
        ladder.build_all(repos_dir, sizes, parse_overrides(args.set))
    for g in range(args.gates):
        for condition in chosen:
            folder = out / condition.name
            folder.mkdir(parents=True, exist_ok=True)
            done = len(list(folder.glob("gate-*.json")))
            if done > g:
                continue
            repo = repos_dir / condition.repo
            verdict_path = folder / f"verdict-{done:03d}.json"
            command = [
                "perfgate",
                "run",
                "--repo",
                str(repo),
                "--baseline",
                "main",
                "--candidate",
                condition.candidate,
                "--no-reuse",
                "--json",
                str(verdict_path),
                "--out",
                str(folder / "reports"),
            ]
            started = time.monotonic()
            proc = subprocess.run(command, cwd=repo, capture_output=True, text=True)
            wall = time.monotonic() - started
            verdict = json.loads(verdict_path.read_text()) if verdict_path.exists() else {}
            row = {
                "condition": condition.name,
                "exit": proc.returncode,
                "wall_s": wall,
                "verdict": verdict.get("verdict", "error"),
                "run_id": verdict.get("run_id"),
                "rounds": verdict.get("rounds"),
                "reason": verdict.get("reason", proc.stderr.strip()[-300:]),
            }
            (folder / f"gate-{done:03d}.json").write_text(json.dumps(row, indent=1))
            print(
                f"{condition.name:>14} gate {done}: {row['verdict']:<12} {wall:6.1f} s  {row['reason'][:110]}",
                flush=True,
            )
    return 0


# --- analyse ---------------------------------------------------------------------------------


@dataclass
class Pool:
    """A condition's recorded pairs: round metrics, and raw ok latencies per (name, side)."""

    metrics: list[list]  # per pair: its RoundMetrics (both sides)
    raw: list[dict]  # per pair: (name, 0|1) -> latencies


def load_pool(repo: Path, run_ids: list[str], estimator: str = "linear") -> Pool:
    store = LocalStore(repo / ".perfgate")
    pool = Pool([], [])
    for run_id in run_ids:
        by_pair: dict[int, list] = defaultdict(list)
        raw: dict[int, dict] = defaultdict(lambda: defaultdict(list))
        for record in store.rounds(run_id):
            if not record.valid:
                continue
            samples = store.samples(run_id, record.index)
            by_pair[record.pair] += round_metrics(samples, record, estimator=estimator)
            by_pair[record.pair] += resource_metrics(store.resources(run_id, record.index), record, samples)
            measured = samples[~samples["warmup"].astype(bool) & samples["ok"].astype(bool)]
            for (side, name), group in measured.groupby(["side", "name"]):
                raw[record.pair][(name, 0 if side == Side.BASELINE.value else 1)].append(
                    group["latency_us"].to_numpy(float)
                )
        for pair in sorted(by_pair):
            pool.metrics.append(by_pair[pair])
            pool.raw.append({k: np.concatenate(v) for k, v in raw[pair].items()})
    return pool


def resample(pool: Pool, config, planned: int, budget: int, gates: int, aa: bool, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    take = min(budget, len(pool.metrics))
    for _ in range(gates):
        chosen = rng.choice(len(pool.metrics), size=take, replace=False)
        metrics, swaps = [], []
        for k, index in enumerate(chosen):
            swap = aa and rng.random() < 0.5  # A/A: the side labels are exchangeable
            swaps.append(swap)
            for m in pool.metrics[index]:
                side = m.side if not swap else (Side.CANDIDATE if m.side is Side.BASELINE else Side.BASELINE)
                metrics.append(replace(m, pair=k, side=side, round_index=k))
        outcome = run_gate(metrics, config, planned=planned, budget=take)
        out.append(
            {"state": outcome.verdict.state, "pairs": outcome.pairs, **_naive(pool, chosen[:planned], swaps[:planned])}
        )
    return out


def _naive(pool: Pool, chosen, swaps) -> dict[str, bool]:
    names = sorted({name for index in chosen for name, _ in pool.raw[index]})
    pooled, first = {}, {}
    for name in names:
        for s in (0, 1):
            parts = [pool.raw[i].get((name, s ^ int(w)), np.array([])) for i, w in zip(chosen, swaps)]
            pooled[(name, s)] = np.concatenate(parts)
            first[(name, s)] = parts[0]
    names = [n for n in names if all(pooled[(n, s)].size >= 20 and first[(n, s)].size >= 20 for s in (0, 1))]
    return naive_flags(pooled, first, names)


def analyse(args: argparse.Namespace) -> int:
    out = Path(args.out)
    head = (
        f"{'condition':<14} {'expect':>6} | {'gates':>5} {'red':>5} {'yel':>5} {'grn':>5} {'pairs':>5} "
        f"{'wall s':>6} | {'resampled from':>14} {'red':>6} {'yellow':>6} {'green':>6} {'pairs':>5} | "
        + " ".join(f"{m:>10}" for m in NAIVE)
    )
    print(head)
    print("-" * len(head))
    for condition in ladder.CONDITIONS:
        gates = [json.loads(p.read_text()) for p in sorted((out / condition.name).glob("gate-*.json"))]
        if not gates:
            continue
        repo = out / "repos" / condition.repo
        config = load_config(repo / "perfgate.toml")
        judge_config = config.judge if args.margin is None else replace(config.judge, margin=args.margin)
        if args.metrics:
            judge_config = replace(judge_config, metrics=tuple(args.metrics.split(",")))
        n = len(gates)
        share = {s: sum(g["verdict"] == s for g in gates) / n for s in COLOUR}
        pool = load_pool(repo, [g["run_id"] for g in gates if g.get("run_id")], args.estimator)
        rows = (
            resample(
                pool,
                judge_config,
                config.rounds.count,
                config.rounds.max,
                args.resample,
                aa=condition.candidate == "main",
                seed=args.seed,
            )
            if len(pool.metrics) >= config.rounds.count
            else []
        )
        m = len(rows) or 1
        red = sum(r["state"] is State.REGRESSION for r in rows) / m
        yellow = sum(r["state"] is State.INCONCLUSIVE for r in rows) / m
        naive = [sum(r[k] for r in rows) / m for k in NAIVE]
        print(
            f"{condition.name:<14} {condition.expect:>6} | {n:>5} {share['regression']:>5.0%} "
            f"{share['inconclusive']:>5.0%} {share['pass']:>5.0%} "
            f"{np.mean([g['rounds'] or 0 for g in gates]):>5.1f} {np.median([g['wall_s'] for g in gates]):>6.0f} | "
            f"{len(pool.metrics):>8} pairs {red:>6.1%} {yellow:>6.1%} {max(1 - red - yellow, 0):>6.1%} "
            f"{np.mean([r['pairs'] for r in rows]) if rows else 0:>5.1f} | " + " ".join(f"{x:>10.1%}" for x in naive),
            flush=True,
        )
        if args.why:
            _why(rows and gates, out / condition.name)
        if args.noise:
            aa = condition.candidate == "main"
            per_pair = float(np.median([g["wall_s"] / g["rounds"] for g in gates if g.get("rounds")]))
            _print_noise(pool, judge_config if aa else None, per_pair)
            if aa:
                sd = pair_noise(pool).get(("(target)", "cpu_per_request"), (0, np.nan, 0))[1]
                print(
                    f"{'':>16}cpu_per_request margin that passes 95% of A/A gates at look 1: "
                    f"{passing_margin(sd, config.rounds.count, config.rounds.max):.2%}"
                )
    return 0


def pair_noise(pool: Pool) -> dict[tuple[str, str], tuple[float, float, int]]:
    """Per (name, metric): (mean, sd) of the per-pair log ratio candidate/baseline, and the
    median requests per round: the noise a gate's interval is built from."""
    series: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for items in pool.metrics:
        sides: dict[str, dict] = defaultdict(dict)
        for m in items:
            sides[m.name][m.side] = m
        for name, pair in sides.items():
            if len(pair) < 2:
                continue
            b, c = pair[Side.BASELINE], pair[Side.CANDIDATE]
            for metric in ("p50", "p95", "p99", "cpu_per_request"):
                vb, vc = b.values.get(metric, np.nan), c.values.get(metric, np.nan)
                if np.isfinite(vb) and np.isfinite(vc) and vb > 0 and vc > 0:
                    series[(name, metric)].append((float(np.log(vc / vb)), b.count))
    return {
        k: (
            float(np.mean([x for x, _ in v])),
            float(np.std([x for x, _ in v], ddof=1)),
            int(np.median([n for _, n in v])),
        )
        for k, v in series.items()
        if len(v) >= 3
    }


def passing_margin(sd: float, planned: int, budget: int, alpha: float = 0.05) -> float:
    """The smallest margin at which an unchanged metric with per-pair log-ratio noise ``sd``
    passes 95% of gates at the first look: the pass bound's half-width (t at that look's
    spent level) plus the 95th percentile of the estimate's own spread."""
    from scipy.stats import norm, t

    from perfgate.judge.sequential import look_levels, look_schedule

    level = look_levels(look_schedule(planned, budget), 1, alpha)[1]
    return float(np.expm1((t.ppf(1 - level, planned - 1) + norm.ppf(0.95)) * sd / np.sqrt(planned)))


def pairs_to_pass(sd: float, margin: float, alpha: float = 0.05, most: int = 1000) -> int:
    """The fewest pairs at which an unchanged metric with per-pair log-ratio noise ``sd`` passes
    95% of gates against ``margin``, judged once at the end with the whole ``alpha`` (no
    spending over looks, no other metric to pass beside it): a lower bound for a real gate."""
    from scipy.stats import norm, t

    bound = np.log1p(margin)
    for n in range(3, most + 1):
        if (t.ppf(1 - alpha, n - 1) + norm.ppf(0.95)) * sd / np.sqrt(n) <= bound:
            return n
    return most


def _print_noise(pool: Pool, judge_config=None, seconds_per_pair: float = 0.0) -> None:
    """Each metric's per-pair noise; for an A/A pool (``judge_config`` given) also the pairs, and
    the gate time at this profile's seconds per pair, that a 95% pass would need at least."""
    for (name, metric), (mean, sd, n) in sorted(pair_noise(pool).items()):
        need = ""
        if judge_config is not None:
            pairs = pairs_to_pass(sd, judge_config.margin_for(name, metric))
            need = f"  needs >= {pairs} pairs to pass (~{pairs * seconds_per_pair / 60:.0f} min)"
        print(
            f"{'':>16}{name:>10} {metric:>16}: mean {np.expm1(mean):+6.1%}  sd {sd:6.1%} per pair "
            f"({n} requests per round){need}"
        )


def _why(gates, folder: Path) -> None:
    """Which metrics kept the whole gates from green or red."""
    counts: dict[str, int] = defaultdict(int)
    for path in sorted(folder.glob("verdict-*.json")):
        for m in json.loads(path.read_text()).get("metrics", []):
            if m["verdict"] in ("inconclusive", "regression"):
                counts[f"{m['verdict']} {m['name']} {m['metric']}"] += 1
    for key, k in sorted(counts.items(), key=lambda kv: -kv[1])[:8]:
        print(f"{'':>16}{k:>3} x {key}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run whole default gates per condition")
    rec.add_argument("--gates", type=int, default=10)
    rec.add_argument("--out", required=True)
    rec.add_argument("--only", action="append", default=[], help="a condition name (repeatable)")
    rec.add_argument("--set", action="append", default=[], help="TABLE.KEY=VALUE for the ladder's perfgate.toml")
    ana = sub.add_parser("analyse", help="the table, from what record kept")
    ana.add_argument("--out", required=True)
    ana.add_argument("--resample", type=int, default=1000)
    ana.add_argument("--seed", type=int, default=1)
    ana.add_argument("--margin", type=float)
    ana.add_argument("--metrics", help="judge these metrics instead of the config's, e.g. p50,p95,p99,error_rate")
    ana.add_argument("--estimator", choices=("linear", "hd"), default="linear", help="round quantile estimator")
    ana.add_argument("--noise", action="store_true", help="per-pair noise of each metric (sd of log ratios)")
    ana.add_argument("--why", action="store_true", help="list the metrics that kept gates from a decision")
    args = parser.parse_args(argv)
    return record(args) if args.command == "record" else analyse(args)


if __name__ == "__main__":
    sys.exit(main())
