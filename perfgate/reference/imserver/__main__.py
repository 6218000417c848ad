"""``python -m loadtests.imserver --port P --data DIR``: run the reference IM service.

Passwords are checked in-process by default; ``--auth-backends H:P,H:P,..`` checks them
through redundant auth backends (``python -m loadtests.imserver.authd``) with failover.
Storage is SQLite in DIR by default. ``--storage mariadb --db-primary H:P --db-replica H:P``
puts it on a MariaDB primary (writes) and replica (reads) instead, with a read-only mode
while the primary is unavailable.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from .app import Settings, build_app
from .auth import SCRYPT_LOG2N
from .authpool import BUGS, AuthPoolConfig
from .storage import Storage
from .storage_mariadb import MariaDbConfig, MariaDbStorage, parse_address


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _addresses(text: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in text.split(",") if part.strip())
    if not parts:
        raise argparse.ArgumentTypeError("expected HOST:PORT[,HOST:PORT..]")
    for part in parts:
        _address(part)
    return parts


def _add_auth_args(p: argparse.ArgumentParser) -> None:
    auth = p.add_argument_group("redundant auth backends")
    auth.add_argument("--auth-backends", type=_addresses, metavar="H:P,H:P,..", help="check logins through these")
    auth.add_argument("--auth-timeout", type=float, default=0.5, metavar="S", help="per request to one backend")
    auth.add_argument("--auth-retry-budget", type=float, default=2.0, metavar="S", help="bound on one login's retries")
    auth.add_argument("--auth-breaker-failures", type=int, default=2, metavar="N", help="failures that open a breaker")
    auth.add_argument("--auth-breaker-cooldown", type=float, default=1.0, metavar="S", help="before a half-open try")
    auth.add_argument("--auth-check-interval", type=float, default=0.25, metavar="S", help="backend health checks")
    auth.add_argument(
        "--auth-bug",
        choices=BUGS,
        help="TEST FIXTURE: a deliberately broken pool (stays on the first backend, retries "
        "without a bound so logins hang while all are down, or logs everyone out while all are down)",
    )


def auth_config(args: argparse.Namespace) -> AuthPoolConfig | None:
    """The auth pool's settings; None keeps the in-process password check."""
    if not args.auth_backends:
        return None
    return AuthPoolConfig(
        backends=args.auth_backends,
        attempt_timeout_s=args.auth_timeout,
        retry_budget_s=args.auth_retry_budget,
        breaker_failures=args.auth_breaker_failures,
        breaker_cooldown_s=args.auth_breaker_cooldown,
        check_interval_s=args.auth_check_interval,
        bug=args.auth_bug,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loadtests.imserver", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", type=Path, required=True, help="data directory (created if needed)")
    p.add_argument("--users", type=int, default=200, help="seeded users user0000..")
    p.add_argument(
        "--seed-cache",
        type=Path,
        metavar="DIR",
        help="keep the seeded users' hashes here between starts (no scrypt at boot)",
    )
    p.add_argument("--scrypt-log2n", type=int, default=SCRYPT_LOG2N, help="scrypt N = 2**this")
    p.add_argument("--gateway", metavar="HOST:PORT", help="external IM network peer")
    p.add_argument("--gateway-queue-limit", type=int, default=0, help="0 = unbounded")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--version", default="", metavar="TEXT", help="serve GET /version with this build label")
    db = p.add_argument_group("database")
    db.add_argument("--storage", choices=("sqlite", "mariadb"), default="sqlite")
    db.add_argument("--db-primary", type=_address, metavar="HOST:PORT", help="takes the writes")
    db.add_argument("--db-replica", type=_address, metavar="HOST:PORT", help="serves the reads (default: the primary)")
    db.add_argument("--db-user", default="im")
    db.add_argument("--db-password", default="im")
    db.add_argument("--db-name", default="im")
    db.add_argument(
        "--db-timeout", type=float, default=1.0, metavar="S", help="connect/read/write timeout of every database call"
    )
    db.add_argument(
        "--db-check-interval", type=float, default=0.25, metavar="S", help="how often the primary's health is checked"
    )
    db.add_argument(
        "--failover-bug",
        choices=("hang", "crash", "lose"),
        help="TEST FIXTURE: a deliberately broken failover (sends hang, the "
        "process exits, or sends are acknowledged but dropped)",
    )
    _add_auth_args(p)
    args = p.parse_args(argv)
    if args.auth_bug and not args.auth_backends:
        p.error("--auth-bug needs --auth-backends")
    if args.storage == "mariadb" and args.db_primary is None:
        p.error("--storage mariadb needs --db-primary")
    if args.storage != "mariadb" and (args.db_primary or args.db_replica or args.failover_bug):
        p.error("--db-primary, --db-replica and --failover-bug need --storage mariadb")
    return args


def make_storage(args: argparse.Namespace) -> Storage | None:
    """The chosen backend; None means the default SQLite file in the data directory."""
    if args.storage != "mariadb":
        return None
    return MariaDbStorage(
        MariaDbConfig(
            primary=args.db_primary,
            replica=args.db_replica,
            user=args.db_user,
            password=args.db_password,
            database=args.db_name,
            timeout_s=args.db_timeout,
            check_interval_s=args.db_check_interval,
            failover_bug=args.failover_bug,
        )
    )


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
        seed_cache=args.seed_cache,
        auth=auth_config(args),
        version=args.version,
    )
    logging.getLogger("loadtests.imserver").info("starting on http://%s:%d", args.host, args.port)
    web.run_app(
        build_app(settings, make_storage(args)),
        host=args.host,
        port=args.port,
        print=None,
        access_log=logging.getLogger("aiohttp.access") if args.access_log else None,
        shutdown_timeout=5.0,
    )


if __name__ == "__main__":
    main()
