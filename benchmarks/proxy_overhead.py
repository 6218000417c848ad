"""Overhead of the fault proxy on loopback: added latency, throughput, schedule accuracy.

    python benchmarks/proxy_overhead.py [--requests 20000] [--duration 3] [--rounds 5] [--connections 32]

Processes: a tiny keep-alive HTTP responder (uvloop, raw protocol, one process)
as the upstream; each proxy variant in its own process; the latency client in
this process (blocking socket, one keep-alive connection, sequential
requests, direct and proxied interleaved in blocks); the throughput client is
``wrk`` when installed (apt ``wrk``), else a multi-process Python client.

Variants: perfgate's proxy (protocols) on uvloop and on asyncio, and, for
comparison, a minimal asyncio-streams forwarder on uvloop (the obvious
``reader.read`` / ``writer.write`` / ``drain`` loop; it has no toxics).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

REQUEST = b"GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


# ---------- child roles ----------


class _Responder(asyncio.Protocol):
    """Answers every request head (GET, no body) with RESPONSE, keep-alive."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        n = buf.count(b"\r\n\r\n")
        if n:
            self.buf = buf[buf.rindex(b"\r\n\r\n") + 4 :]
            self.t.write(RESPONSE * n)  # type: ignore[attr-defined]
        else:
            self.buf = buf


async def _serve_http() -> None:
    srv = await asyncio.get_running_loop().create_server(_Responder, "127.0.0.1", 0, backlog=1024)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await _until_stdin_closes()


async def _streams_pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _serve_streams_proxy(upstream: int) -> None:
    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", upstream)
        await asyncio.gather(_streams_pipe(cr, uw), _streams_pipe(ur, cw))

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await _until_stdin_closes()


async def _serve_perfgate_proxy(upstream: int, schedule: int, toxic: bool) -> None:
    from perfgate.faults import FaultSpec, ProxyServer, make_toxic, run_schedule

    async with ProxyServer() as srv:
        p = await srv.create("bench", upstream=f"127.0.0.1:{upstream}")
        if toxic:  # a live toxic that adds nothing: the cost of the toxic pipeline itself
            p.add_toxic(make_toxic("latency", attributes={"latency": 0}))
        print(p.listen_port, flush=True)
        if schedule:  # entries every 100 ms, each 50 ms long, under whatever load arrives
            await asyncio.sleep(1.0)
            specs = [FaultSpec(0.1 * i, 0.05, "bench", "latency", attributes={"latency": 1}) for i in range(schedule)]
            windows = await run_schedule(srv, specs)
            print(
                json.dumps(
                    [
                        [w.start_ns - w.detail.planned_start_ns, w.end_ns - w.detail.planned_end_ns]
                        for w in windows
                    ]
                ),
                flush=True,
            )
        await _until_stdin_closes()


async def _until_stdin_closes() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def _child(role: str, loop: str, upstream: int, schedule: int, toxic: bool) -> None:
    if loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if role == "server":
        asyncio.run(_serve_http())
    elif role == "streams":
        asyncio.run(_serve_streams_proxy(upstream))
    else:
        asyncio.run(_serve_perfgate_proxy(upstream, schedule, toxic))


class Child:
    """A role running in its own process; it prints its port, and ends when its stdin closes."""

    def __init__(
        self, role: str, loop: str = "uvloop", upstream: int = 0, schedule: int = 0, toxic: bool = False
    ) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--role",
                role,
                "--loop",
                loop,
                "--upstream",
                str(upstream),
                "--schedule",
                str(schedule),
            ]
            + (["--toxic"] if toxic else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.proc.stdout.readline())  # type: ignore[union-attr]

    def readline(self) -> str:
        return self.proc.stdout.readline()  # type: ignore[union-attr]

    def stop(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()  # type: ignore[union-attr]


# ---------- clients ----------


def _rtts(sock: socket.socket, n: int) -> list[int]:
    out = []
    for _ in range(n):
        t = time.perf_counter_ns()
        sock.sendall(REQUEST)
        got = 0
        while got < len(RESPONSE):
            got += len(sock.recv(4096))
        out.append(time.perf_counter_ns() - t)
    return out


def latency(ports: dict[str, int], requests: int, block: int = 500) -> dict[str, list[list[int]]]:
    """Sequential keep-alive requests; the targets take turns in blocks so drift hits all alike."""
    socks = {name: socket.create_connection(("127.0.0.1", port)) for name, port in ports.items()}
    try:
        for s in socks.values():
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _rtts(s, 200)  # warm-up
        out: dict[str, list[list[int]]] = {name: [] for name in socks}
        for _ in range(max(1, requests // block)):
            for name, s in socks.items():
                out[name].append(_rtts(s, block))
        return out
    finally:
        for s in socks.values():
            s.close()


def _pct(values: list[int], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1]


def wrk(port: int, seconds: float, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"http://127.0.0.1:{port}/ping"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Socket errors" in out or "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors through port {port}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def _py_load(port: int, conns: int, seconds: float, q: multiprocessing.Queue) -> None:
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for s in socks:
            s.sendall(REQUEST)
        for s in socks:
            got = 0
            while got < len(RESPONSE):
                got += len(s.recv(4096))
        done += len(socks)
    q.put(done)


def py_load(port: int, seconds: float, connections: int, procs: int = 2) -> float:
    q: multiprocessing.Queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_py_load, args=(port, connections // procs, seconds, q)) for _ in range(procs)
    ]
    for w in workers:
        w.start()
    total = sum(q.get() for _ in workers)
    for w in workers:
        w.join()
    return total / seconds


# ---------- main ----------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=20_000, help="sequential requests per target (latency)")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per throughput measurement")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5, help="throughput rounds per target, order rotated")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--loop", default="uvloop", help=argparse.SUPPRESS)
    ap.add_argument("--upstream", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--schedule", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--toxic", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        _child(args.role, args.loop, args.upstream, args.schedule, args.toxic)
        return

    load = "wrk -t1" if shutil.which("wrk") else "python multi-process client (2 processes)"
    server = Child("server")
    children = {
        "perfgate-uvloop": Child("perfgate", "uvloop", server.port),
        "perfgate-asyncio": Child("perfgate", "asyncio", server.port),
        "streams-uvloop": Child("streams", "uvloop", server.port),
        "perfgate-uvloop+latency0": Child("perfgate", "uvloop", server.port, toxic=True),
    }
    results: dict[str, object] = {
        "cpus": os.cpu_count(),
        "load_client": load,
        "requests": args.requests,
        "connections": args.connections,
        "rounds": args.rounds,
        "load_average_before": os.getloadavg()[0],
    }
    try:
        ports = {"direct": server.port, **{k: c.port for k, c in children.items()}}
        blocks = latency(ports, args.requests)
        direct = blocks["direct"]
        pooled_direct = [v for b in direct for v in b]
        lat = {}
        for name, bs in blocks.items():
            pooled = [v for b in bs for v in b]
            lat[name] = {
                "p50_us": _pct(pooled, 0.5) / 1e3,
                "p99_us": _pct(pooled, 0.99) / 1e3,
                # median over adjacent block pairs of the p50 difference: drift cancels out
                "added_p50_us": statistics.median(
                    statistics.median(b) - statistics.median(d) for b, d in zip(bs, direct)
                )
                / 1e3,
                "added_p99_us": (_pct(pooled, 0.99) - _pct(pooled_direct, 0.99)) / 1e3,
            }
        results["latency"] = lat
        runs: dict[str, list[float]] = {name: [] for name in ports}
        for r in range(args.rounds):
            names = list(ports)[r % len(ports) :] + list(ports)[: r % len(ports)]  # rotate the order
            for name in names:
                runs[name].append(
                    (wrk if shutil.which("wrk") else py_load)(ports[name], args.duration, args.connections)
                )
        results["throughput_rps"] = {
            name: {"median": statistics.median(v), "min": min(v), "max": max(v)} for name, v in runs.items()
        }
    finally:
        for c in children.values():
            c.stop()

    # schedule accuracy: 20 entries in the proxy process while the load runs through it
    sched = Child("perfgate", "uvloop", server.port, schedule=20)
    try:
        (wrk if shutil.which("wrk") else py_load)(sched.port, 3.5, args.connections)
        errors = json.loads(sched.readline())
    finally:
        sched.stop()
        server.stop()
    onset = [a / 1e6 for a, _ in errors]
    end = [b / 1e6 for _, b in errors]
    results["schedule_ms"] = {
        "onset_mean": statistics.mean(onset),
        "onset_max": max(onset),
        "end_mean": statistics.mean(end),
        "end_max": max(end),
    }

    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
