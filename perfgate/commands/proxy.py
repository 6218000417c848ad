"""``perfgate proxy serve``: the fault proxy behind Toxiproxy's HTTP API, for any Toxiproxy client."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from perfgate.commands._args import check_option
from perfgate.faults.api import load_populate_file, run_api
from perfgate.outcome import Outcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve the API until interrupted (Ctrl-C)",
        description="Serve Toxiproxy's HTTP API (2.x) until SIGINT or SIGTERM.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address of the API (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8474, help="port of the API (default: 8474, Toxiproxy's)")
    serve.add_argument("--config", type=Path, help="JSON array of proxies to create first (Toxiproxy's -config)")


def serve(
    host: str = "127.0.0.1", port: int = 8474, config: Path | None = None, console: Console | None = None
) -> Outcome:
    """Serve until interrupted; the callable form of ``perfgate proxy serve``."""
    proxies = load_populate_file(config) if config is not None else None

    def ready(bound: int) -> None:
        if console is not None:
            n = len(proxies or [])
            console.print(f"perfgate proxy: Toxiproxy API on http://{host}:{bound} ({n} proxies); Ctrl-C stops")

    run_api(host, port, proxies, ready)
    return Outcome.OK


def run(args: argparse.Namespace, console: Console) -> Outcome:
    check_option("--port", args.port, low=0, high=65535)  # the OS took 70000 as 70000 % 65536
    return serve(args.host, args.port, args.config, console)
