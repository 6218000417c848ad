"""Speed and memory of judging 10 million samples: round_metrics over every round, then judge.

    python benchmarks/judge_speed.py [--samples 10000000] [--pairs 12]

Two layouts, each in a fresh process so that its peak RSS is its own:

* per-round: the gate's way, one round's frame at a time (as read from the store);
* one-frame: all samples in one frame, one call (the worst case for memory).

The time counts round_metrics and judge only, not building the synthetic
frames; the peak RSS is the whole process (Python, libraries, the frames).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from perfgate.config import JudgeConfig
from perfgate.judge import judge, round_metrics
from perfgate.model import SAMPLE_SCHEMA, Design, Revision, RoundRecord, Side

NAMES = np.array(["login", "send", "history", "presence"])


def make_frame(rng: np.random.Generator, n: int, sides: tuple[str, ...]) -> pd.DataFrame:
    """A frame as the store returns it: a pyarrow table (SAMPLE_SCHEMA) converted with to_pandas()."""
    ok = rng.random(n) > 0.002

    def strings(codes: np.ndarray, values) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(values)).cast(pa.string())

    table = pa.table(
        {
            "t_ns": np.arange(n, dtype=np.int64),
            "latency_us": rng.lognormal(7.0, 0.4, n),
            "name": strings(rng.integers(0, NAMES.size, n), NAMES.tolist()),
            "type": strings(np.zeros(n), ["GET"]),
            "ok": ok,
            "bytes": np.full(n, 512, dtype=np.int64),
            "error": pa.array(np.where(ok, 0, 1).astype(np.int32)).dictionary_encode(),
            "side": strings(rng.integers(0, len(sides), n), list(sides)),
            "warmup": np.arange(n) < n // 10,
        }
    )
    errors = strings(np.zeros(n), ["HTTPError"])
    table = table.set_column(6, "error", pa.compute.if_else(pa.array(ok), pa.nulls(n, pa.string()), errors))
    return table.cast(SAMPLE_SCHEMA).to_pandas()


def record(index: int, pair: int) -> RoundRecord:
    return RoundRecord(
        "bench", index, "chat", Design.DUET, (Side.BASELINE, Side.CANDIDATE), pair, 0, 2 * 10**9, 12 * 10**9
    )


def run(layout: str, samples: int, pairs: int) -> dict:
    rng = np.random.default_rng(0)
    rev = Revision("HEAD", "0" * 40)
    per_round = samples // pairs
    seconds, metrics, before = 0.0, [], 0
    if layout == "per-round":
        for p in range(pairs):
            frame = make_frame(rng, per_round, ("baseline", "candidate"))
            before = max(before, psutil.Process().memory_info().rss)
            started = time.perf_counter()
            metrics.extend(round_metrics(frame, record(p, p)))
            seconds += time.perf_counter() - started
            del frame
    else:
        frame = make_frame(rng, samples, ("baseline", "candidate"))
        before = psutil.Process().memory_info().rss
        bounds = np.linspace(0, samples, pairs + 1).astype(int)
        started = time.perf_counter()
        for p in range(pairs):  # the round split is a slice: no copy of the columns
            metrics.extend(round_metrics(frame.iloc[bounds[p] : bounds[p + 1]], record(p, p)))
        seconds += time.perf_counter() - started
    started = time.perf_counter()
    verdict = judge(metrics, JudgeConfig(), rev, rev, planned_pairs=6, budget_pairs=pairs)
    seconds += time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "layout": layout,
        "samples": samples,
        "seconds": seconds,
        "peak_rss": peak,
        "data_rss": before,
        "verdict": verdict.state.value,
        "metrics": len(verdict.metrics),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--layout", choices=("per-round", "one-frame"))
    args = parser.parse_args()
    if args.layout:
        print(json.dumps(run(args.layout, args.samples, args.pairs)))
        return 0
    print(
        f"{'layout':<10} {'samples':>11} {'judge time':>11} {'peak RSS':>10} "
        f"{'RSS with data, before judging':>30}  verdict"
    )
    for layout in ("per-round", "one-frame"):
        out = subprocess.run(
            [sys.executable, __file__, "--layout", layout, "--samples", str(args.samples), "--pairs", str(args.pairs)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['layout']:<10} {r['samples']:>11,} {r['seconds']:>10.2f}s {r['peak_rss'] / 2**20:>6.0f} MiB "
            f"{r['data_rss'] / 2**20:>26.0f} MiB  {r['verdict']} ({r['metrics']} metrics)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
