"""Render time and size of the report for a default-sized gate run.

    /work/venv/bin/python tests/report/bench_render.py [--rounds 12] [--per-side 10000] [--repeat 3]

Builds a synthetic duet run through the real store (rounds × 2 sides × per-side
samples, with fault, storm and chaos windows, an invalid and two confirmation
rounds), then times ``write_reports`` (HTML, markdown, JUnit, JSON) from the store.
Prints one markdown table row per measurement, for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

# Run as a script (the command above), so its own folder is first on sys.path: report_synth is the sibling file.
from report_synth import SynthSpec, build_run

from perfgate.report import write_reports


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--per-side", type=int, default=10_000)
    parser.add_argument("--names", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    names = (
        ("login", "send_message", "history", "presence")[: args.names]
        if args.names <= 4
        else tuple(f"/api/endpoint/{i}" for i in range(args.names))
    )
    regressed = {names[min(1, len(names) - 1)]: 1.25}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = SynthSpec(
            planned_pairs=args.rounds - 2,
            confirmation_pairs=2,
            per_side=args.per_side,
            names=names,
            regressed=regressed,
        )
        store, run_id, verdict = build_run(root / "store", spec)
        write_reports(store, run_id, root / "warm")  # imports, font cache
        walls, cpus = [], []
        for i in range(args.repeat):
            out = root / f"out{i}"
            wall, cpu = time.perf_counter(), time.process_time()
            paths = write_reports(
                store, run_id, out, markdown=out / "s.md", junit=out / "j.xml", json_path=out / "v.json"
            )
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        samples = args.rounds * 2 * args.per_side
        print(
            "| rounds × sides × samples | metrics | HTML | markdown | JUnit "
            "| render wall (median) | render CPU (median) |"
        )
        print("|---|---|---|---|---|---|---|")
        print(
            f"| {args.rounds} × 2 × {args.per_side:,} ({samples:,}) | {len(verdict.metrics)} | "
            f"{paths.html.stat().st_size / 2**20:.2f} MiB | {paths.markdown.stat().st_size / 1024:.1f} KiB | "
            f"{paths.junit.stat().st_size / 1024:.1f} KiB | {statistics.median(walls):.2f} s | "
            f"{statistics.median(cpus):.2f} s |"
        )


if __name__ == "__main__":
    main()
