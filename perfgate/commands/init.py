"""``perfgate init``: write a commented perfgate.toml for your own service."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from perfgate.config import CONFIG_NAME
from perfgate.errors import ConfigError


TEMPLATE = '''\
# perfgate configuration. Every key is optional; the values shown are the defaults.

[target]
# How to start the system under test, from a checkout of each revision.
# Placeholders: {port} {data_dir} {python} {worktree} {host}
command = "{python} -m loadtests.imserver --port {port} --data {data_dir}"
ready_path = "/healthz"     # polled until it answers 200
metrics_path = "/metrics"   # optional JSON: connections, queue_depth
ready_timeout = 30          # seconds
port = 0                    # 0 picks a free port for each target

[load]
# A Locust file (plain `locust -f` works on it) and the user classes to run.
locustfile = "loadtests/im.py"
user_classes = ["ChatUser"]
users = 8                   # per side
spawn_rate = 8              # users per second, per side
warmup = 2                  # seconds, flagged and left out of the verdict
duration = 8                # measured seconds per round

# More scenarios override [load] keys:
# [scenarios.chat]
# [scenarios.login_heavy]
# users = 16

[rounds]
design = "duet"             # duet: both sides at once; interleaved: A B B A ...
count = 6                   # planned pairs of rounds
max = 12                    # budget, confirmation rounds included
# seed = 1                  # fixes the round order

[judge]
margin = 0.05               # changes smaller than 5% are not regressions
confidence = 0.95
metrics = ["p50", "p95", "p99", "error_rate"]   # also: p90 p99.9 mean throughput rss_peak queue_peak cpu_mean
inconclusive = "warn"       # exit code for inconclusive: fail (1), pass (0), warn (2)
# [judge.margins]
# p99 = 0.10
# "login.p95" = 0.08

[store]
path = ".perfgate"

[report]
dir = "reports"
'''


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=Path("."), help="where to write perfgate.toml")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args: argparse.Namespace, console: Console) -> int:
    path = args.dir / CONFIG_NAME
    if path.exists() and not args.force:
        raise ConfigError(f"{path}: already exists (use --force to overwrite)")
    try:
        path.write_text(TEMPLATE, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc}") from exc
    console.print(f"wrote {path}", markup=False)
    return 0
