"""Throughput cost of perfgate's per-request recorder.

Locust FastHttpUser requests/s against a fixed local endpoint, with and
without perfgate's Recorder listening on the request event. Runs alternate
(A B B A ...) so drift on a noisy machine hits both alike. Throughput on a
shared 2-core VM swings by +-25% run to run, so the script also reports the
load generator's CPU time per request (less sensitive to that noise) and the
recorder's own cost per event, timed in a tight loop.

    python benchmarks/recorder_overhead.py [--pairs 5] [--seconds 8] [--users 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time

SERVER = textwrap.dedent("""
    import asyncio, sys
    BODY = b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nContent-Type: text/plain\\r\\n\\r\\nok"
    class Responder(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer = transport, b""
        def data_received(self, data):
            self.buffer += data
            while (end := self.buffer.find(b"\\r\\n\\r\\n")) >= 0:
                self.buffer = self.buffer[end + 4:]
                self.transport.write(BODY)
    async def main():
        server = await asyncio.get_running_loop().create_server(Responder, "127.0.0.1", int(sys.argv[1]))
        print("ready", flush=True)
        await server.serve_forever()
    asyncio.run(main())
""")

GENERATOR = textwrap.dedent("""
    import json, sys, time
    import gevent
    from locust import FastHttpUser, constant, task
    from locust.env import Environment
    from perfgate.load.recorder import Recorder

    host, users, seconds, record = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"

    class Hammer(FastHttpUser):
        wait_time = constant(0)
        @task
        def hit(self):
            self.client.get("/")

    env = Environment(user_classes=[Hammer], host=host)
    recorder = Recorder()
    if record:
        env.events.request.add_listener(recorder.on_request)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(1.0)  # ramp-up, not counted
    before, t0, cpu0 = env.stats.total.num_requests, time.perf_counter(), time.process_time()
    gevent.sleep(seconds)
    done, elapsed = env.stats.total.num_requests - before, time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    runner.quit()
    if record:
        c0 = time.process_time()
        recorder.to_table()  # the end-of-round cost is part of recording
        cpu += (time.process_time() - c0) * done / max(1, len(recorder))  # its share of the measured window
    print(json.dumps({"rps": done / elapsed, "cpu_us": 1e6 * cpu / done, "recorded": len(recorder)}))
""")


def run_generator(host: str, users: int, seconds: float, record: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", GENERATOR, host, str(users), str(seconds), str(int(record))],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def per_event_ns(events: int = 200_000) -> float:
    """CPU per Recorder.on_request call plus its share of to_table, in a tight loop."""
    from perfgate.load.recorder import Recorder

    recorder = Recorder()
    t0 = time.process_time()
    for _ in range(events):
        recorder.on_request("GET", "/send", 1.234, 2, None, None, start_time=time.time())
    recorder.to_table()
    return 1e9 * (time.process_time() - t0) / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.port)], stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        host = f"http://127.0.0.1:{args.port}"
        plain, recorded = [], []
        for pair in range(args.pairs):
            order = (False, True) if pair % 2 == 0 else (True, False)
            for record in order:
                result = run_generator(host, args.users, args.seconds, record)
                (recorded if record else plain).append(result)
                print(
                    f"pair {pair} {'recorded' if record else 'plain   '}: {result['rps']:8.0f} req/s, "
                    f"{result['cpu_us']:6.1f} us CPU/request",
                    flush=True,
                )
                time.sleep(0.5)
        ratios = [r["rps"] / p["rps"] for p, r in zip(plain, recorded)]
        cpu_ratios = [r["cpu_us"] / p["cpu_us"] for p, r in zip(plain, recorded)]
        print(
            f"\nplain    median {statistics.median(p['rps'] for p in plain):8.0f} req/s, "
            f"{statistics.median(p['cpu_us'] for p in plain):6.1f} us CPU/request"
        )
        print(
            f"recorded median {statistics.median(r['rps'] for r in recorded):8.0f} req/s, "
            f"{statistics.median(r['cpu_us'] for r in recorded):6.1f} us CPU/request"
        )
        print(
            f"throughput lost: median {100 * (1 - statistics.median(ratios)):.1f}% "
            f"(per pair: {', '.join(f'{100 * (1 - r):.1f}%' for r in ratios)})"
        )
        print(
            f"CPU per request added: median {100 * (statistics.median(cpu_ratios) - 1):.1f}% "
            f"(per pair: {', '.join(f'{100 * (r - 1):.1f}%' for r in cpu_ratios)})"
        )
        print(f"recorder alone: {per_event_ns():.0f} ns CPU per request event (on_request + to_table)")
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
