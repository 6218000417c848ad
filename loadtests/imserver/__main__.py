"""``python -m loadtests.imserver --port P --data DIR``: run the reference IM service."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from loadtests.imserver.app import Settings, build_app
from loadtests.imserver.auth import SCRYPT_LOG2N


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loadtests.imserver", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", type=Path, required=True, help="data directory (created if needed)")
    p.add_argument("--users", type=int, default=200, help="seeded users user0000..")
    p.add_argument("--scrypt-log2n", type=int, default=SCRYPT_LOG2N, help="scrypt N = 2**this")
    p.add_argument("--gateway", metavar="HOST:PORT", help="external IM network peer")
    p.add_argument("--gateway-queue-limit", type=int, default=0, help="0 = unbounded")
    p.add_argument("--access-log", action="store_true", help="log every request")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.data.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=args.data,
        users=args.users,
        scrypt_log2n=args.scrypt_log2n,
        gateway=args.gateway,
        gateway_queue_limit=args.gateway_queue_limit,
    )
    logging.getLogger("loadtests.imserver").info("starting on http://%s:%d", args.host, args.port)
    web.run_app(
        build_app(settings),
        host=args.host,
        port=args.port,
        print=None,
        access_log=logging.getLogger("aiohttp.access") if args.access_log else None,
        shutdown_timeout=5.0,
    )


if __name__ == "__main__":
    main()
