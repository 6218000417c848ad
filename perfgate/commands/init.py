"""``perfgate init``: write a commented perfgate.toml for your own service."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from perfgate.config import CONFIG_NAME
from perfgate.errors import ConfigError
from perfgate.outcome import Outcome

TEMPLATE = """\
# perfgate configuration. Every key is optional; the values shown are the defaults.

[target]
# How to start the system under test, from a checkout of each revision.
# Placeholders: {{port}} {{data_dir}} {{python}} {{worktree}} {{host}}
command = "{target.command}"
ready_path = "{target.ready_path}"     # polled until it answers 200
metrics_path = "{target.metrics_path}"   # JSON or Prometheus text (connections, queue_depth, mode); false: none
ready_timeout = {target.ready_timeout:g}          # seconds
port = {target.port}                    # 0 picks a free port for each target

[load]
# A Locust file (plain `locust -f` works on it) and the user classes to run.
locustfile = "{load.locustfile}"
user_classes = ["{user_class}"]
users = {load.users}                  # per side
spawn_rate = {load.spawn_rate:g}             # users per second, per side
warmup = {load.warmup:g}                  # seconds, flagged and left out of the verdict
duration = {load.duration:g}               # measured seconds per round

# More scenarios override [load] keys:
# [scenarios.chat]
# [scenarios.login_heavy]
# users = 16

[rounds]
design = "{rounds.design.value}"             # duet: both sides at once; interleaved: A B B A ...
count = {rounds.count}                   # planned pairs of rounds
max = {rounds.max}                    # budget, confirmation pairs included
placement = "{rounds.placement}"          # shared: both targets on the same CPUs, the generator on the others
# seed = 1                  # fixes the round order

[judge]
margin = {judge.margin:g}               # changes smaller than 5% are not regressions
confidence = {judge.confidence:g}
metrics = [{metrics}]
# also: p90 p99.9 mean throughput rss_peak queue_peak cpu_mean
inconclusive = "{judge.inconclusive}"       # exit code for inconclusive: fail (1), pass (0), warn (2)
[judge.margins]             # per metric or per name.metric; cpu_per_request defaults to {cpu_margin:g}
# p99 = 0.10
# "login.p95" = 0.08

[store]
path = ".perfgate"

[report]
dir = "reports"
"""


def template() -> str:
    """The commented config, with perfgate's own defaults as its values."""
    from perfgate.config import METRIC_MARGINS, JudgeConfig, RoundsConfig, ScenarioConfig, TargetConfig

    load, judge = ScenarioConfig(name="chat"), JudgeConfig()
    return TEMPLATE.format(
        target=TargetConfig(),
        load=load,
        user_class=load.user_classes[0],
        rounds=RoundsConfig(),
        judge=judge,
        metrics=", ".join(f'"{m}"' for m in judge.metrics),
        cpu_margin=METRIC_MARGINS["cpu_per_request"],
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=Path("."), help="where to write perfgate.toml")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args: argparse.Namespace, console: Console) -> Outcome:
    path = args.dir / CONFIG_NAME
    if path.exists() and not args.force:
        raise ConfigError(f"{path}: already exists (use --force to overwrite)")
    try:
        path.write_text(template(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc}") from exc
    console.print(f"wrote {path}", markup=False)
    return Outcome.OK
