"""Time from start to ready of the reference IM service, with and without ``--seed-cache``.

    python benchmarks/imserver_boot.py [--starts 5] [--users 200]

Each start gets a fresh data directory, as every round of a gate does. Without the cache the
service hashes every seeded user's password with scrypt at boot; with it, the first start
writes the hashes and later starts read them back.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

READY_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def boot_seconds(users: int, extra: list[str]) -> float:
    """Seconds until ``/healthz`` answers, for one start on a fresh data directory."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="imboot-") as data:
        started = time.perf_counter()
        cmd = [sys.executable, "-m", "perfgate.reference.imserver", "--port", str(port), "--data", data]
        proc = subprocess.Popen(
            [*cmd, "--users", str(users), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            while time.perf_counter() - started < READY_TIMEOUT_S:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                    return time.perf_counter() - started
                except OSError:
                    time.sleep(0.02)
            raise SystemExit(f"not ready within {READY_TIMEOUT_S:g}s")
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imboot-cache-") as cache:
        plain = [boot_seconds(args.users, []) for _ in range(args.starts)]
        cached = [boot_seconds(args.users, ["--seed-cache", str(Path(cache))]) for _ in range(args.starts + 1)]
    print(f"{args.users} seeded users, {args.starts} starts each (seconds to ready)")
    print(f"  without --seed-cache: median {statistics.median(plain):.2f}  ({', '.join(f'{t:.2f}' for t in plain)})")
    print(f"  with --seed-cache:    first {cached[0]:.2f}, then median {statistics.median(cached[1:]):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
