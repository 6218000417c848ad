"""How tightly one generator process releases a login storm.

    python benchmarks/storm_release.py [--logins 10000] [--repeat 3] [--json FILE]

Side by side in one run, each from a fresh generator process:

- ``storm``: loadtests/storm.py's engine (pre-connect, barrier, one-pass send);
- ``naive``: 10,000 greenlets posting through one Locust FastHttpSession whose pool
  allows 10,000 connections (Locust's default pool of 10 is also measured);

against two servers on loopback:

- ``fast``: a uvloop protocol server in this file that answers every request at
  once and timestamps each request's arrival (the server-side release spread);
- ``imserver``: the reference IM service, with scrypt at 2**4 (the default 2**12
  costs about 7.5 ms of CPU per login: 10,000 logins would take over a minute).

Figures: connect phase, release spread (first to last send; for ``naive`` the
request calls, since the send itself happens inside the pool), server-observed
arrival spread (``fast`` only), and first send to last answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"

# -- the fast server ------------------------------------------------------------------


def serve_fast(port: int) -> None:
    """Answer every HTTP/1.1 request at once; GET /stats gives the POST arrival times."""
    import uvloop

    body = b'{"token": "t", "user": "u"}'
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    arrivals: list[int] = []

    class Http(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport, self.buf = transport, b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                head = self.buf[:end].lower()
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    key, _, value = line.partition(b":")
                    if key.strip() == b"content-length":
                        length = int(value)
                if len(self.buf) < end + 4 + length:
                    return
                self.buf = self.buf[end + 4 + length :]
                if head.startswith(b"get /stats"):
                    stats = json.dumps(
                        {"n": len(arrivals), "first": min(arrivals, default=0), "last": max(arrivals, default=0)}
                    ).encode()
                    arrivals.clear()
                    self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(stats), stats))
                    continue
                arrivals.append(time.time_ns())
                self.transport.write(ok)
                if b"connection: close" in head:
                    self.transport.close()
                    return

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Http, HOST, port, backlog=4096)
        await server.serve_forever()

    uvloop.run(main())


# -- the generators (each in a process of its own: Locust patches it) -------------------------


def client_storm(url: str, logins: int, clients: int) -> dict[str, Any]:
    from urllib.parse import urlsplit

    from perfgate.reference.storm import StormPlan, run_storm

    parts = urlsplit(url)
    plan = StormPlan(parts.hostname or HOST, parts.port or 80, logins, clients, timeout_s=60.0)
    s = run_storm(plan, lambda login: None)
    return {
        "connect_ms": s.connect_ms,
        "spread_ms": s.spread_ms,
        "answered_ms": s.all_answered_ms,
        "ok": s.ok,
        "failed": s.failed,
        "connections": s.connections,
        "error": s.first_error,
    }


def client_naive(url: str, logins: int, concurrency: int) -> dict[str, Any]:
    import gevent
    from locust.contrib.fasthttp import FastHttpSession
    from locust.env import Environment

    from perfgate.reference.storm import raise_fd_limit

    raise_fd_limit(logins + 1024)
    env = Environment()
    calls: list[float] = []
    ends: list[float] = []
    failed: list[str] = []

    def on_request(start_time: float, response_time: float, exception: Any = None, **_: Any) -> None:
        calls.append(start_time)
        ends.append(start_time + response_time / 1000)
        if exception is not None:
            failed.append(f"{type(exception).__name__}: {exception}")

    env.events.request.add_listener(on_request)
    session = FastHttpSession(
        url, env.events.request, None, concurrency=concurrency, connection_timeout=60.0, network_timeout=60.0
    )
    creds = {"user": "user0199", "password": "pass0199"}
    greenlets = [gevent.spawn(session.post, "/login", json=creds, name="login") for _ in range(logins)]
    gevent.joinall(greenlets, timeout=120)
    return {
        "connect_ms": None,
        "spread_ms": (max(calls) - min(calls)) * 1000,
        "answered_ms": (max(ends) - min(calls)) * 1000,
        "ok": len(calls) - len(failed),
        "failed": len(failed) + logins - len(calls),
        "connections": concurrency,
        "error": failed[0][:200] if failed else "",
    }


# -- the driver ----------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not up")


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return dict(json.loads(r.read()))


def _raise_nofile() -> None:  # in each child: as many sockets as the hard limit allows
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _generate(kind: str, url: str, logins: int, extra: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--client", kind, url, str(logins), str(extra)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--logins", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="storm-bench-"))
    fast_port, im_port = _free_port(), _free_port()
    servers = [
        subprocess.Popen([sys.executable, __file__, "--serve", str(fast_port)], preexec_fn=_raise_nofile),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "perfgate.reference.imserver",
                "--port",
                str(im_port),
                "--data",
                str(tmp / "im"),
                "--scrypt-log2n",
                "4",
            ],
            cwd=REPO,
            preexec_fn=_raise_nofile,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    rows: list[dict[str, Any]] = []
    try:
        fast, im = f"http://{HOST}:{fast_port}", f"http://{HOST}:{im_port}"
        _wait(fast + "/stats")
        _wait(im + "/healthz")
        n = args.logins
        cases = [
            ("fast", fast, "storm", 1),
            ("fast", fast, "naive", n),
            ("fast", fast, "naive", 10),
            ("imserver", im, "storm", 1),
            ("imserver", im, "naive", n),
            ("fast", fast, "storm", 2),
            ("imserver", im, "storm", 2),
        ]
        for server, url, kind, extra in cases:
            for rep in range(args.repeat):
                if server == "fast":
                    _get(fast + "/stats")  # reset
                out = _generate(kind, url, n, extra)
                if server == "fast":
                    stats = _get(fast + "/stats")
                    out["server_spread_ms"] = (stats["last"] - stats["first"]) / 1e6
                label = f"{kind} x{extra} clients" if kind == "storm" else f"naive pool={extra}"
                rows.append(
                    {
                        "server": server,
                        "case": label,
                        "logins": n * (extra if kind == "storm" else 1),
                        "rep": rep,
                        **out,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
                time.sleep(2)  # let the server settle (closing sockets)
    finally:
        for s in servers:
            s.terminate()
            s.wait(10)
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def _table(rows: list[dict[str, Any]]) -> str:
    def med(values: list[Any]) -> str:
        values = [v for v in values if v is not None]
        return f"{statistics.median(values):,.0f}" if values else "-"

    out = [
        "| server | generator | logins | connect ms | release spread ms | server-seen spread ms "
        "| first send → all answered ms | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["server"], r["case"], r["logins"]), []).append(r)
    for (server, case, logins), rs in groups.items():
        out.append(
            f"| {server} | {case} | {logins:,} | {med([r['connect_ms'] for r in rs])} "
            f"| {med([r['spread_ms'] for r in rs])} | {med([r.get('server_spread_ms') for r in rs])} "
            f"| {med([r['answered_ms'] for r in rs])} | {max(r['failed'] for r in rs)} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        serve_fast(int(sys.argv[2]))
    elif len(sys.argv) > 5 and sys.argv[1] == "--client":
        kind, url, logins, extra = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        result = client_storm(url, logins, extra) if kind == "storm" else client_naive(url, logins, extra)
        print(json.dumps(result))
    else:
        main()
