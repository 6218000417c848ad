"""API calls and wall time to bring up and tear down a 1 target + 1 master + 10 worker cluster on moto.

    python benchmarks/cluster_bringup.py [--workers 10] [--repeats 5]

moto's server runs on a free loopback port (ThreadedMotoServer). ``up`` covers:
bucket check, lease, bundle upload (4 small files) with presigned URLs, three
security groups and their rules, one RunInstances call per role, the running
waiter. ``down`` covers terminate, the terminated waiter, rule revocation,
group deletion and the S3 prefix. Counts are boto3 API calls (botocore
``before-call`` events); wall time is what the caller waits.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    from moto.server import ThreadedMotoServer

    from perfgate.cluster.base import InfraSettings
    from perfgate.cluster.ec2 import Ec2Cluster
    from perfgate.target import free_port

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = {}
            for name, filename in {
                "wheel": "perfgate-0.1.0-py3-none-any.whl",
                "baseline": "baseline.tar",
                "candidate": "candidate.tar",
                "config": "config.json",
            }.items():
                (Path(tmp) / filename).write_bytes(os.urandom(64 * 1024))
                bundle[name] = Path(tmp) / filename
            settings = InfraSettings(bucket="pg-bench", workers=args.workers, owner="bench")
            ups, downs, up_calls, down_calls = [], [], Counter(), Counter()
            for _ in range(args.repeats):
                cluster = Ec2Cluster(settings)
                t0 = time.perf_counter()
                handle = cluster.up(settings, bundle, minutes=30)
                ups.append(time.perf_counter() - t0)
                up_calls = Counter(cluster.calls)
                cluster.calls.clear()
                t0 = time.perf_counter()
                cluster.down(handle.run_id)
                downs.append(time.perf_counter() - t0)
                down_calls = Counter(cluster.calls)
            total = settings.targets + 1 + settings.workers
            print(f"cluster: {settings.targets} target + 1 master + {settings.workers} workers = {total} instances")
            for label, times, calls in (("up", ups, up_calls), ("down", downs, down_calls)):
                detail = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
                print(
                    f"{label:>4}: {sum(calls.values())} API calls, median {statistics.median(times):.2f} s "
                    f"(of {args.repeats}: {', '.join(f'{t:.2f}' for t in times)})\n      {detail}"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
