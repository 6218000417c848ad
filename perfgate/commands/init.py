"""``perfgate init``: write a commented perfgate.toml for your own service (or, with
``--demo``, for the bundled reference IM service), a starter locustfile when there is none,
and the next steps."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.prompt import Prompt

from perfgate.config import (
    CONFIG_NAME,
    METRIC_MARGINS,
    READY_PROBES,
    JudgeConfig,
    RoundsConfig,
    ScenarioConfig,
    TargetConfig,
)
from perfgate.errors import ConfigError
from perfgate.outcome import Outcome

TEMPLATE = """\
# perfgate configuration. Values shown are the defaults unless init was told otherwise;
# commented keys are optional. Durations take seconds or "250ms", "10s", "2m".

[target]
# How to start the system under test, from a git worktree of each revision.
# Placeholders: {{port}} {{data_dir}} {{python}} {{worktree}} {{host}} (shell-quoted for you).
command = {command}
ready_path = {ready_path}     # polled until it answers 200
ready_probe = "{target.ready_probe}"        # http: GET ready_path; tcp: the port accepts a connection (XMPP, SMTP, ...)
metrics_path = {metrics_path}   # JSON or Prometheus text (connections, queue_depth, mode); false: none
ready_timeout = {target.ready_timeout:g}          # seconds
stop_timeout = {target.stop_timeout:g}           # seconds between SIGTERM and SIGKILL
port = {target.port}                    # 0 picks a free port for each target
# env = {{ LOG_LEVEL = "warning" }}   # secret-looking values are redacted in every report

[load]
# A Locust file (plain `locust -f` works on it) and the user classes to run.
locustfile = {locustfile}
user_classes = [{user_classes}]
users = {load.users}                  # per side
spawn_rate = {load.spawn_rate:g}             # users per second, per side
warmup = {load.warmup:g}                  # seconds, flagged and left out of the verdict
duration = {load.duration:g}               # measured seconds per round
workers = {load.workers}                  # 0: Locust in-process; N: a master and N workers
# database = "mariadb"      # a real MariaDB primary and replica per side (needs perfgate[mariadb])

# More scenarios override [load] keys, and may add faults, a storm, chaos and the monkey:
# [scenarios.main]
#
# [scenarios.slow_network]
# monkey = {{ seed = 7, mean_interval = 4 }}       # seeded slowness: stalls, latency spikes, resets
# [[scenarios.slow_network.faults]]               # at T for D, toxic X on link L
# at = 3
# for = 2
# link = "target"
# toxic = "latency"                              # latency bandwidth slow_close timeout reset_peer
# latency = 200                                  #   slicer limit_data down stall
#
# [scenarios.restart]
# [[scenarios.restart.chaos]]
# at = 4
# action = "kill"                                # kill, pause, resume, restart
# for = 2                                        # restart after 2 s
#
# [scenarios.storm]                              # a login storm beside the steady users
# storm = {{ logins = 10000, clients = 2, at = 5, timeout = 30 }}

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
min_count = {judge.min_count}              # requests a name needs per round to be judged
[judge.margins]             # per metric or per name.metric; cpu_per_request defaults to {cpu_margin:g}
# p99 = 0.10
# "login.p95" = 0.08

[store]
path = ".perfgate"          # or s3://bucket/prefix (needs perfgate[aws])

[report]
dir = "reports"
"""

STARTER_LOCUSTFILES = {
    "http": '''\
"""Load for perfgate (and plain `locust -f {name}`): replace the task with your service's requests.

Every request is a Locust request event; perfgate splits them by side and judges each name."""

from locust import HttpUser, between, task


class ServiceUser(HttpUser):
    wait_time = between(0.02, 0.1)

    @task
    def ready(self) -> None:
        self.client.get({ready_path})
''',
    "tcp": '''\
"""Load for perfgate (and plain `locust -f {name}`): replace the task with your protocol's client.

perfgate passes the host as http://HOST:PORT, for its address only. Every step you time is a
Locust request event; perfgate splits them by side and judges each name."""

import socket
import time
from urllib.parse import urlsplit

from locust import User, between, task


class ServiceUser(User):
    wait_time = between(0.02, 0.1)

    @task
    def connect(self) -> None:
        address = urlsplit(self.host)
        started, start = time.time(), time.perf_counter()
        error = None
        try:
            with socket.create_connection((address.hostname, address.port), timeout=5):
                pass
        except OSError as exc:
            error = exc
        self.environment.events.request.fire(
            request_type="TCP",
            name="connect",
            start_time=started,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=0,
            response=None,
            exception=error,
            context=self.context(),
        )
''',
}


def template(target: TargetConfig | None = None, load: ScenarioConfig | None = None) -> str:
    """The commented config: perfgate's defaults (the demo service) or ``target`` and ``load``."""
    target = target or TargetConfig()
    load = load or ScenarioConfig(name="chat")
    judge = JudgeConfig()
    return TEMPLATE.format(
        command=json.dumps(target.command),
        ready_path=json.dumps(target.ready_path),
        metrics_path=json.dumps(target.metrics_path) if target.metrics_path is not None else "false",
        target=target,
        load=load,
        locustfile=json.dumps(load.locustfile),
        user_classes=", ".join(json.dumps(c) for c in load.user_classes),
        rounds=RoundsConfig(),
        judge=judge,
        metrics=", ".join(f'"{m}"' for m in judge.metrics),
        cpu_margin=METRIC_MARGINS["cpu_per_request"],
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--command", help="how to start your service; use {port} (asked for on a terminal)")
    parser.add_argument("--ready-path", help="path that answers 200 once it is up (default: /health)")
    parser.add_argument(
        "--ready-probe", choices=READY_PROBES, default="http", help="tcp: a service that speaks no HTTP (default: http)"
    )
    parser.add_argument("--metrics-path", help="JSON or Prometheus metrics path, or 'false' (default: false)")
    parser.add_argument("--locustfile", help="your Locust file (default: locustfile.py, written if missing)")
    parser.add_argument("--user-class", action="append", help="a Locust user class to run (repeatable)")
    parser.add_argument("--demo", action="store_true", help="the config of the bundled reference IM service")
    parser.add_argument("--dir", type=Path, default=Path("."), help="where to write perfgate.toml")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def _ask(args: argparse.Namespace, console: Console) -> tuple[TargetConfig, ScenarioConfig]:
    """Your service's settings: flags, else answers on a terminal, else one clear error."""
    command = args.command
    if command is None:
        if not sys.stdin.isatty():
            raise ConfigError("init: --command is required without a terminal (or --demo for the IM service)")
        command = Prompt.ask("command that starts your service on {port}", console=console)
    if "{port}" not in command:
        raise ConfigError(f"init: --command {command!r} must use {{port}}, the port perfgate gives each side")
    tcp = args.ready_probe == "tcp"
    ready = args.ready_path or ("/health" if args.command or tcp else Prompt.ask("ready path", default="/health"))
    metrics = None if args.metrics_path in (None, "false") else args.metrics_path
    locustfile = args.locustfile or "locustfile.py"
    classes = tuple(args.user_class or ["ServiceUser"])
    target = replace(
        TargetConfig(), command=command, ready_path=ready, ready_probe=args.ready_probe, metrics_path=metrics
    )
    return target, replace(ScenarioConfig(name="main"), locustfile=locustfile, user_classes=classes)


def run(args: argparse.Namespace, console: Console) -> Outcome:
    path = args.dir / CONFIG_NAME
    if path.exists() and not args.force:
        raise ConfigError(f"{path}: already exists (use --force to overwrite)")
    if args.demo:
        text, target, load = template(), TargetConfig(), ScenarioConfig(name="chat")
    else:
        target, load = _ask(args, console)
        text = template(target, load)
    written = [path]
    try:
        path.write_text(text, encoding="utf-8")
        starter = args.dir / load.locustfile
        if not args.demo and not starter.exists():
            starter.parent.mkdir(parents=True, exist_ok=True)
            starter.write_text(
                STARTER_LOCUSTFILES[target.ready_probe].format(
                    name=load.locustfile, ready_path=json.dumps(target.ready_path)
                ),
                "utf-8",
            )
            written.append(starter)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc}") from exc
    out = Console(highlight=False)
    out.print(f"wrote {', '.join(str(p) for p in written)}", markup=False, soft_wrap=True)
    if not args.demo:
        out.print(_next_steps(target, load), markup=False, soft_wrap=True)
    return Outcome.OK


def _next_steps(target: TargetConfig, load: ScenarioConfig) -> str:
    return "\n".join(
        [
            "next steps:",
            f"  1. check that `{target.command}` starts your service from a fresh checkout, on {{port}},",
            f"     and that {_ready_words(target)} once it is up",
            f"  2. make {load.locustfile} send your service's real requests (`locust -f {load.locustfile}` runs it)",
            "  3. commit perfgate.toml and the locustfile, then: perfgate run --baseline HEAD~1 --candidate HEAD",
            "  4. in CI: copy infra/ci/perfgate.yml, or gate pushes with: perfgate hook install pre-push",
        ]
    )


def _ready_words(target: TargetConfig) -> str:
    if target.ready_probe == "tcp":
        return "it accepts connections on {port}"
    return f"{target.ready_path} answers 200"
