"""Database failover of the reference IM service under a little real load.

    python benchmarks/failover.py [--fault kill|pause] [--runs 3] [--users 20]
                                  [--before 5] [--outage 10] [--after 5]

Each run starts a real MariaDB primary and replica (perfgate.deps.MariaDbPair), the
service on them (``python -m loadtests.imserver --storage mariadb ...``) and N virtual
users sending real HTTP requests with aiohttp: send (5), history (2), login (1), with
50-150 ms pauses. After ``--before`` seconds the primary is killed (SIGKILL) or paused
(SIGSTOP: accepts TCP, never answers); ``--outage`` seconds later it is restarted (or
resumed). Measured per run:

* detect: kill -> the service's own ``last_mode_change_ns`` to read-only;
* write error window: first failed send started -> last failed send finished;
* read/login success during the outage: requests started between kill and recovery;
* send latency during the outage (fail fast: max);
* primary start: restart (or SIGCONT) issued -> the primary accepts queries again;
* recover: restart issued -> ``last_mode_change_ns`` back to read-write (so it includes
  the primary's own crash recovery; recover - primary start is the service's share);
* acknowledged writes lost: every 200 from POST /messages reconciled against the primary.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from perfgate.deps import AckKey, MariaDbPair, query_stored_keys, reconcile
from perfgate.procs import kill_tree
from perfgate.target import free_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Sample:
    op: str
    start_ns: int
    end_ns: int
    ok: bool
    outcome: str  # "200", "503", "timeout", ...


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    acked: list[AckKey] = field(default_factory=list)
    modes: list[tuple[int, str]] = field(default_factory=list)  # (change ns, mode) seen


async def user(session: aiohttp.ClientSession, url: str, n: int, run: Run, stop: asyncio.Event, users: int) -> None:
    name, password = f"user{n:04d}", f"pass{n:04d}"
    token: str | None = None
    while not stop.is_set():
        op = "login" if token is None else random.choices(["send", "history", "login"], weights=[5, 2, 1])[0]
        start = time.time_ns()
        outcome, sent_ns = "?", 0
        try:
            if op == "login":
                async with session.post(f"{url}/login", json={"user": name, "password": password}) as r:
                    outcome = str(r.status)
                    if r.status == 200:
                        token = (await r.json())["token"]
            elif op == "send":
                sent_ns = time.time_ns()
                body = {"to": f"user{random.randrange(users):04d}", "body": "hi", "client_sent_ns": sent_ns}
                async with session.post(
                    f"{url}/messages", json=body, headers={"Authorization": f"Bearer {token}"}
                ) as r:
                    outcome = str(r.status)
                    await r.read()
            else:
                peer = f"user{random.randrange(users):04d}"
                async with session.get(
                    f"{url}/history?with={peer}&limit=20", headers={"Authorization": f"Bearer {token}"}
                ) as r:
                    outcome = str(r.status)
                    await r.read()
        except TimeoutError:
            outcome = "timeout"
        except aiohttp.ClientError as exc:
            outcome = type(exc).__name__
        end = time.time_ns()
        run.samples.append(Sample(op, start, end, outcome == "200", outcome))
        if op == "send" and outcome == "200":
            run.acked.append(AckKey(name, sent_ns))
        await asyncio.sleep(random.uniform(0.05, 0.15))


async def watch_modes(session: aiohttp.ClientSession, url: str, run: Run, stop: asyncio.Event) -> None:
    last = None
    while not stop.is_set():
        try:
            async with session.get(f"{url}/metrics") as r:
                m = await r.json()
            if (m["mode"], m["last_mode_change_ns"]) != last:
                last = (m["mode"], m["last_mode_change_ns"])
                run.modes.append((int(m["last_mode_change_ns"]), str(m["mode"])))
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.02)


async def drive(url: str, db: MariaDbPair, args: argparse.Namespace) -> tuple[Run, dict[str, int]]:
    run, stop, marks = Run(), asyncio.Event(), {}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks = [asyncio.create_task(user(session, url, i, run, stop, args.users)) for i in range(args.users)]
        tasks.append(asyncio.create_task(watch_modes(session, url, run, stop)))
        loop = asyncio.get_running_loop()
        await asyncio.sleep(args.before)
        marks["fault"] = time.time_ns()
        await loop.run_in_executor(None, db.kill_primary if args.fault == "kill" else db.pause_primary)
        await asyncio.sleep(args.outage)
        marks["restart"] = time.time_ns()
        await loop.run_in_executor(None, db.restart_primary if args.fault == "kill" else db.resume_primary)
        marks["primary_ready"] = time.time_ns()
        await asyncio.sleep(args.after)
        stop.set()
        await asyncio.gather(*tasks)
    return run, marks


def measure(run: Run, marks: dict[str, int], lost: int) -> dict[str, float]:
    fault = marks["fault"]
    to_ro = [ns for ns, mode in run.modes if mode == "read-only" and ns >= fault]
    to_rw = [ns for ns, mode in run.modes if mode == "read-write" and ns >= fault]
    detected = min(to_ro) if to_ro else float("nan")
    recovered = min((ns for ns in to_rw if ns >= marks["restart"]), default=float("nan"))
    failed_sends = [s for s in run.samples if s.op == "send" and not s.ok]
    outage = [s for s in run.samples if fault <= s.start_ns <= recovered]
    reads = [s for s in outage if s.op in ("login", "history")]
    sends_out = [s for s in outage if s.op == "send"]
    return {
        "primary_down_s": (marks["primary_ready"] - fault) / 1e9,
        "detect_s": (detected - fault) / 1e9,
        "write_window_s": (
            (max(s.end_ns for s in failed_sends) - min(s.start_ns for s in failed_sends)) / 1e9 if failed_sends else 0.0
        ),
        "read_ok": sum(s.ok for s in reads) / len(reads) if reads else float("nan"),
        "reads_in_outage": len(reads),
        "send_max_ms_in_outage": max((s.end_ns - s.start_ns) / 1e6 for s in sends_out) if sends_out else float("nan"),
        "primary_start_s": (marks["primary_ready"] - marks["restart"]) / 1e9,
        "recover_s": (recovered - marks["restart"]) / 1e9,
        "acked": len(run.acked),
        "lost": lost,
    }


def one_run(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, float], Counter[str]]:
    with MariaDbPair(workdir / "db") as db:
        port = free_port()
        log = workdir / "imserver.log"
        cmd = [
            sys.executable,
            "-m",
            "perfgate.reference.imserver",
            "--port",
            str(port),
            "--data",
            str(workdir / "data"),
            "--users",
            str(args.users),
            *db.imserver_args(),
        ]
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}", proc)
            run, marks = asyncio.run(drive(f"http://127.0.0.1:{port}", db, args))
        finally:
            kill_tree(proc, 10)
        s = db.settings
        stored = query_stored_keys(db.primary.port, s.user, s.password, s.database)
        result = reconcile(run.acked, stored)
    errors = Counter(f"{x.op} {x.outcome}" for x in run.samples if not x.ok)
    return measure(run, marks, len(result.lost)), errors


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    import urllib.request

    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"imserver exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("imserver not healthy")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fault", choices=("kill", "pause"), default="kill")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--before", type=float, default=5.0)
    p.add_argument("--outage", type=float, default=10.0)
    p.add_argument("--after", type=float, default=5.0)
    args = p.parse_args()
    rows, errors = [], Counter[str]()
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="failover-") as tmp:
            row, errs = one_run(args, Path(tmp))
        rows.append(row)
        errors.update(errs)
        print(f"run {i + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
    print(f"\n{args.fault}, {args.runs} runs, {args.users} users: median [min, max]")
    for key in rows[0]:
        values = [r[key] for r in rows]
        print(f"  {key:24s} {statistics.median(values):10.4g}  [{min(values):.4g}, {max(values):.4g}]")
    print("  errors by class: " + ", ".join(f"{k}: {n}" for k, n in errors.most_common()))


if __name__ == "__main__":
    main()
