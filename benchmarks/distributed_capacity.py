"""Load capacity of local distributed mode: requests/s with 0 (in-process), 1 and 2 Locust workers.

    python benchmarks/distributed_capacity.py [--users 40] [--duration 10] [--repeats 3]

The target is a minimal aiohttp server (tests/cluster/tinyserver.py) on loopback
and the users never wait, so the generator is the bottleneck as far as the
machine allows; the target shares the same cores. Prints one line per mode.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from perfgate.load.distributed import run_load_distributed
from perfgate.load.runner import LoadSpec, LoadTarget, run_load
from perfgate.model import Side
from perfgate.procs import kill_tree
from perfgate.target import free_port

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class Flat(FastHttpUser):
    wait_time = constant(0)

    @task
    def hello(self):
        self.client.get("/hello", name="hello", context=self.context())
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/cluster/tinyserver.py"), str(port)], start_new_session=True
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            locustfile = Path(tmp) / "flat.py"
            locustfile.write_text(LOCUSTFILE)
            spec = LoadSpec(
                str(locustfile),
                ("Flat",),
                args.users,
                1000.0,
                args.warmup,
                args.duration,
                (LoadTarget(Side.BASELINE, f"http://127.0.0.1:{port}"),),
            )
            for workers in (0, 1, 2):
                rates, cpus = [], []
                for r in range(args.repeats):
                    work = Path(tmp) / f"w{workers}-{r}"
                    result = run_load(spec, work) if workers == 0 else run_load_distributed(spec, work, workers)
                    df = result.samples.to_pandas()
                    measured = df[~df["warmup"] & (df["t_ns"] < result.ended_ns)]
                    rates.append(len(measured) / args.duration)
                    cpus.append(result.generator_cpu)
                mode = "in-process" if workers == 0 else f"{workers} worker(s)"
                print(
                    f"{mode:>12}: {statistics.median(rates):8.0f} req/s (median of {args.repeats}; "
                    f"runs {', '.join(f'{x:.0f}' for x in rates)}); busiest generator CPU "
                    f"{statistics.median(cpus):.0f}%",
                    flush=True,
                )
    finally:
        kill_tree(server, 5)


if __name__ == "__main__":
    main()
