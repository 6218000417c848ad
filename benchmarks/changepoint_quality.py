"""Change-point quality: perfgate's detector (ruptures KernelCPD, rbf kernel, its
default penalty) vs other ruptures models vs Apache Otava, all on the same
simulated per-commit histories.

    python benchmarks/changepoint_quality.py            # 500 evaluation series
    python benchmarks/changepoint_quality.py --quick    # 60 series, for development

A history has 20-40 commits with 3-6 rounds each. A round value is lognormal
(log-sd 2-8 %, drawn per series), 5 % of rounds are hiccups (x1.5-3), each
commit has a small run-to-run offset (0.25 x the round log-sd), the level drifts
linearly by up to +-3 % over the history, and 0, 1 or 2 level shifts of
+5/10/20/50 % start at random commits. Every detector sees the log of the
round values in commit order (as perfgate.history.find_changes does) and its
change points are snapped to commit boundaries with history.snap_to_commits.

Scores: false change points per 100 commits on no-shift series; spurious points
(farther than 1 commit from any true shift) per 100 commits on shifted series;
detection rate of true shifts (a point within +-1 commit); exact-commit rate
among detected shifts; mean run time per series.

The l2 models need a penalty scaled to the noise: pen = c * sigma^2 * log(n)
(sigma from the MAD of first differences, robust to level shifts and hiccups).
c is the smallest value whose false-point rate on a separate calibration set
of no-shift series (other seeds) is at most perfgate's rate on that same set
(bisection on log c). perfgate's own penalty (1.7 * log n, the rbf kernel is
scale-free) was set that way against the E-divisive means perfgate used before
(1.62 at its false-point rate, rounded up; BENCHMARKS.md has that run).
Apache Otava (Hunter: E-divisive candidates + t-test, window 50) runs from its
own venv through a subprocess (--otava-python), since it pins numpy < 2.4 and
scipy < 1.16: once with its defaults (max_pvalue 0.001) and once with
max_pvalue calibrated the same way over a grid.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

SIZES = (0.05, 0.10, 0.20, 0.50)
OTAVA_WINDOW, OTAVA_DEFAULT_P = 50, 0.001
OTAVA_GRID = [float(p) for p in np.geomspace(0.1, 1e-8, 29)]


@dataclass
class Sim:
    x: np.ndarray  # log of the round values, commit order
    owners: list[int]  # commit index of each value
    commits: int
    shifts: list[tuple[int, float]]  # (first commit of the new level, relative size)


def simulate(rng: np.random.Generator, n_shifts: int) -> Sim:
    commits = int(rng.integers(20, 41))
    rounds = rng.integers(3, 7, size=commits)
    sigma = rng.uniform(0.02, 0.08)
    level = np.linspace(0.0, rng.uniform(-0.03, 0.03), commits)  # slow drift
    level += rng.normal(0.0, 0.25 * sigma, commits)  # run-to-run offset of each commit
    while True:  # shift commits: >= 2 commits on each side, >= 4 commits apart
        at = sorted(int(k) for k in rng.choice(np.arange(2, commits - 1), n_shifts, replace=False))
        if all(b - a >= 4 for a, b in zip(at, at[1:])):
            break
    shifts = [(k, float(rng.choice(SIZES))) for k in at]
    for k, size in shifts:
        level[k:] += math.log1p(size)
    owners = np.repeat(np.arange(commits), rounds)
    values = 50.0 * np.exp(level[owners] + rng.normal(0.0, sigma, owners.size))
    hiccup = rng.random(owners.size) < 0.05
    values[hiccup] *= rng.uniform(1.5, 3.0, int(hiccup.sum()))
    return Sim(np.log(values), owners.tolist(), commits, shifts)


def make_sims(seed: int, stream: int, count: int, shift_counts=(0, 1, 2)) -> list[Sim]:
    return [
        simulate(np.random.default_rng([seed, stream, i]), shift_counts[i % len(shift_counts)]) for i in range(count)
    ]


def snap(points, sim: Sim) -> list[int]:
    """Commits where a change begins, snapped as perfgate.history.find_changes does."""
    from perfgate.history import snap_to_commits

    cuts = {snap_to_commits(int(i), sim.owners) for i in points}
    return sorted(sim.owners[c] for c in cuts if 0 < c < sim.x.size)


def false_rate(found: list[list[int]], sims: list[Sim]) -> float:
    """Change points per 100 commits on no-shift series."""
    return 100.0 * sum(len(f) for f in found) / sum(s.commits for s in sims)


def score(found: list[list[int]], sims: list[Sim], secs: list[float]) -> dict:
    null = [(f, s) for f, s in zip(found, sims) if not s.shifts]
    shifted = [(f, s) for f, s in zip(found, sims) if s.shifts]
    hits = {size: [0, 0] for size in SIZES}
    exact = spurious = 0
    for f, s in shifted:
        for k, size in s.shifts:
            hit = any(abs(c - k) <= 1 for c in f)
            hits[size][0] += hit
            hits[size][1] += 1
            exact += k in f
        spurious += sum(all(abs(c - k) > 1 for k, _ in s.shifts) for c in f)
    detected = sum(h for h, _ in hits.values())
    return {
        "fp": false_rate([f for f, _ in null], [s for _, s in null]),
        "spurious": 100.0 * spurious / max(1, sum(s.commits for _, s in shifted)),
        "by_size": {size: h / max(1, n) for size, (h, n) in hits.items()},
        "detect": detected / max(1, sum(n for _, n in hits.values())),
        "exact": exact / max(1, detected),
        "ms": 1000.0 * float(np.mean(secs)),
    }


# --- detectors in this venv ----------------------------------------------------------------


def run_perfgate(sims: list[Sim]) -> tuple[list[list[int]], list[float]]:
    from perfgate.judge.changepoint import change_points

    found, secs = [], []
    for s in sims:
        t0 = time.perf_counter()
        points = change_points(s.x)  # as history.find_changes calls it
        secs.append(time.perf_counter() - t0)
        found.append(snap(points, s))
    return found, secs


def robust_sigma(x: np.ndarray) -> float:
    """Round-level sd from the MAD of first differences (a difference has variance 2 sigma^2)."""
    d = np.diff(x)
    return 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2.0)


def ruptures_detectors() -> dict:
    import ruptures as rpt

    return {
        "ruptures Pelt l2": lambda: rpt.Pelt(model="l2", min_size=2, jump=1),
        "ruptures Binseg l2": lambda: rpt.Binseg(model="l2", min_size=2, jump=1),
    }


def penalty(x: np.ndarray, c: float) -> float:
    return c * robust_sigma(x) ** 2 * math.log(x.size)


def calibrate_ruptures(factory, sims: list[Sim], target: float) -> float:
    """Smallest c whose false-point rate on the (no-shift) calibration set is <= target."""
    fitted = [factory().fit(s.x) for s in sims]

    def rate(log_c: float) -> float:
        return false_rate(
            [snap(a.predict(pen=penalty(s.x, math.exp(log_c)))[:-1], s) for a, s in zip(fitted, sims)], sims
        )

    lo, hi = math.log(0.05), math.log(2000.0)
    if rate(hi) > target:
        return math.exp(hi)
    for _ in range(14):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if rate(mid) <= target else (mid, hi)
    return math.exp(hi)


def run_ruptures(factory, c: float, sims: list[Sim]) -> tuple[list[list[int]], list[float]]:
    found, secs = [], []
    for s in sims:
        t0 = time.perf_counter()
        bkps = factory().fit(s.x).predict(pen=penalty(s.x, c))[:-1]
        secs.append(time.perf_counter() - t0)
        found.append(snap(bkps, s))
    return found, secs


# --- Apache Otava, in its own venv -------------------------------------------------------


def otava_worker() -> None:
    """Read {"series", "pvalues"} as JSON on stdin; write change points and times as JSON."""
    from importlib.metadata import requires, version
    from otava.analysis import compute_change_points

    job = json.load(sys.stdin)
    cps, secs = [], []
    for series in job["series"]:
        row, t = [], []
        for p in job["pvalues"]:
            t0 = time.perf_counter()
            points, _ = compute_change_points(list(series), window_len=OTAVA_WINDOW, max_pvalue=p)
            t.append(time.perf_counter() - t0)
            row.append([int(cp.index) for cp in points])
        cps.append(row)
        secs.append(t)
    pins = [
        r
        for r in requires("apache-otava") or []
        if r.split("<")[0].split(">")[0].split("=")[0].strip() in ("numpy", "scipy", "pandas")
    ]
    json.dump(
        {"version": version("apache-otava"), "numpy": np.__version__, "pins": pins, "cps": cps, "secs": secs},
        sys.stdout,
    )


def call_otava(python: str, sims: list[Sim], pvalues: list[float]) -> dict:
    job = json.dumps({"series": [s.x.tolist() for s in sims], "pvalues": pvalues})
    done = subprocess.run(
        [python, os.path.abspath(__file__), "--otava-worker"], input=job, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=500, help="evaluation series (1/3 each with 0, 1, 2 shifts)")
    parser.add_argument("--calibration", type=int, default=150, help="no-shift series for penalty calibration")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="60 evaluation and 30 calibration series")
    parser.add_argument(
        "--otava-python", default="/tmp/otava-venv/bin/python", help="python of a venv with apache-otava ('' to skip)"
    )
    parser.add_argument("--otava-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.otava_worker:
        return otava_worker()
    if args.quick:
        args.series, args.calibration = 60, 30
    import ruptures
    import scipy

    print(f"$ python {' '.join(sys.argv)}")
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, ruptures {ruptures.__version__}")
    evaluation = make_sims(args.seed, 0, args.series)
    calibration = make_sims(args.seed, 1, args.calibration, shift_counts=(0,))
    print(
        f"{len(evaluation)} evaluation series ({sum(s.commits for s in evaluation)} commits, "
        f"{sum(len(s.shifts) for s in evaluation)} true shifts); {len(calibration)} no-shift calibration "
        f"series (other seeds); seed {args.seed}"
    )

    rows = []  # (detector, setting, score)
    t0 = time.perf_counter()
    found, _ = run_perfgate(calibration)
    target = false_rate(found, calibration)
    print(
        f"perfgate false points on the calibration set: {target:.2f} per 100 commits "
        f"(the target for calibrated penalties) [{time.perf_counter() - t0:.0f} s]"
    )
    found, secs = run_perfgate(evaluation)
    from perfgate.judge.changepoint import PENALTY

    rows.append(("perfgate (KernelCPD rbf)", f"pen={PENALTY:g}*log n", score(found, evaluation, secs)))

    for name, factory in ruptures_detectors().items():
        t0 = time.perf_counter()
        c = calibrate_ruptures(factory, calibration, target)
        found, secs = run_ruptures(factory, c, evaluation)
        setting = f"pen={c:.3g}*sigma^2*log n"
        rows.append((name, setting, score(found, evaluation, secs)))
        print(f"{name}: c = {c:.3g} [{time.perf_counter() - t0:.0f} s]")

    if args.otava_python and os.path.exists(args.otava_python):
        try:
            t0 = time.perf_counter()
            calib = call_otava(args.otava_python, calibration, OTAVA_GRID)
            rates = [
                false_rate([snap(row[j], s) for row, s in zip(calib["cps"], calibration)], calibration)
                for j in range(len(OTAVA_GRID))
            ]
            best = next((p for p, r in zip(OTAVA_GRID, rates) if r <= target), OTAVA_GRID[-1])
            result = call_otava(args.otava_python, evaluation, [OTAVA_DEFAULT_P, best])
            for j, setting in enumerate((f"default p={OTAVA_DEFAULT_P:g}", f"calibrated p={best:.2g}")):
                found = [snap(row[j], s) for row, s in zip(result["cps"], evaluation)]
                secs = [t[j] for t in result["secs"]]
                rows.append((f"otava {result['version']} Hunter", setting, score(found, evaluation, secs)))
            print(
                f"apache-otava {result['version']} from {args.otava_python} (numpy {result['numpy']} there; "
                f"its pins: {', '.join(result['pins'])}); calibrated max_pvalue {best:.2g} "
                f"[{time.perf_counter() - t0:.0f} s]"
            )
        except (subprocess.CalledProcessError, json.JSONDecodeError) as exc:
            tail = getattr(exc, "stderr", "") or str(exc)
            print(f"apache-otava: worker failed: {tail.strip().splitlines()[-1] if tail.strip() else exc}")
    else:
        print(f"apache-otava: skipped (no interpreter at {args.otava_python!r})")

    head = (
        ["detector", "setting", "FP/100c null", "spur/100c shifted"]
        + [f"det +{int(s * 100)}%" for s in SIZES]
        + ["det all", "exact|det", "ms/series"]
    )
    table = [
        [d, st, f"{r['fp']:.2f}", f"{r['spurious']:.2f}"]
        + [f"{r['by_size'][s]:.0%}" for s in SIZES]
        + [f"{r['detect']:.0%}", f"{r['exact']:.0%}", f"{r['ms']:.1f}"]
        for d, st, r in rows
    ]
    widths = [max(len(str(row[i])) for row in [head, *table]) for i in range(len(head))]
    print()
    for row in [head, ["-" * w for w in widths], *table]:
        print("  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths))))


if __name__ == "__main__":
    main()
