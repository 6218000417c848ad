"""The XMPP login storm and chat mix, from perfgate's Locust users and from Tsung, against one Prosody.

    python benchmarks/xmpp_vs_tsung.py [--logins 10000] [--chatters 12] [--duration 40] [--json FILE]

Both tools run the same load against Prosody from ``examples/prosody/`` (same build, config
and seeded accounts; started fresh on a free loopback port for each tool), one after the other:

- ``perfgate``: ``loadtests/xmppstorm.py``'s ``XmppStormUser`` (one generator process:
  connect every login's stream, then one tight loop writes every PLAIN ``<auth/>``) beside
  ``--chatters`` ``XmppUser``s, run through Locust's library API in a child process
  (``benchmarks/xmpp_vs_tsung_locust.py``);
- ``tsung``: ``benchmarks/tsung_xmpp.xml`` (filled in here), run by Debian's ``tsung``
  (Erlang, all users in the controller VM): the storm sessions wait at a ``wait_global``
  barrier, then each sends its ``<auth/>``; the chat sessions log in, chat and log out in a loop.

Every storm login is the same account (``user0199``), as in the perfgate storm. Figures per
tool: release spread (first to last ``<auth/>`` sent, from each tool's own send timestamps),
logins answered and logins/s (first send to last answer), delivery latency as each tool
reports it, the generator's process tree CPU (user+sys) and peak RSS and open descriptors
(psutil, every 0.25 s), and wall time. Tsung is a benchmark-only dependency
(``apt-get install tsung``). Every process started here is stopped before it exits.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from perfgate.procs import stop_tree
from perfgate.target import free_port

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "prosody"
TEMPLATE = Path(__file__).with_name("tsung_xmpp.xml")
LOCUST_CHILD = Path(__file__).with_name("xmpp_vs_tsung_locust.py")
SEEDED_USERS = 200  # seed_accounts.py's default; the storm logs in as the last one
STORM_ACCOUNT = (f"user{SEEDED_USERS - 1:04d}", f"pass{SEEDED_USERS - 1:04d}")


def load_seeder() -> Any:
    spec = importlib.util.spec_from_file_location("seed_accounts", EXAMPLE / "seed_accounts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed(data: Path, chatters: int) -> None:
    """perfgate's accounts (user0000.., with rosters), and Tsung's chatters tsung1.. (passwords pwd1..)."""
    subprocess.run([sys.executable, str(EXAMPLE / "seed_accounts.py"), str(data)], check=True, timeout=120)
    seeder = load_seeder()
    accounts = data / seeder.host_folder("localhost") / "accounts"
    for n in range(1, chatters + 1):
        (accounts / f"tsung{n}.dat").write_text(seeder.account_file(f"pwd{n}"))


def start_prosody(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PROSODY_PORT": str(port), "PROSODY_DATA": str(data)}
    with open(data / f"stdout-{port}.log", "wb") as out:
        proc = subprocess.Popen(
            ["prosody", "--config", str(EXAMPLE / "prosody.cfg.lua"), "-F"],
            cwd=EXAMPLE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    stop_tree(proc)
    raise SystemExit(f"prosody did not listen on {port}: see {data}/stdout-{port}.log")


class TreeSampler(threading.Thread):
    """CPU seconds (user+sys, summed over every member seen), peak RSS and peak open fds of a process tree."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.cpu: dict[int, float] = {}
        self.peak_rss = self.peak_fds = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.25):
            self.sample()

    def sample(self) -> None:
        try:
            family = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        rss = fds = 0
        for member in family:
            try:
                times = member.cpu_times()
                self.cpu[member.pid] = times.user + times.system
                rss += member.memory_info().rss
                fds += member.num_fds()
            except psutil.Error:
                continue
        self.peak_rss, self.peak_fds = max(self.peak_rss, rss), max(self.peak_fds, fds)

    def stop(self) -> dict[str, float]:
        self.sample()
        self.halt.set()
        self.join(5)
        return {"cpu_s": sum(self.cpu.values()), "peak_rss_mb": self.peak_rss / 2**20, "peak_fds": self.peak_fds}


# -- perfgate: Locust's library API, in a child process (benchmarks/xmpp_vs_tsung_locust.py) ------


def perfgate_figures(events: list[list[Any]]) -> dict[str, Any]:
    logins = [e for e in events if e[1] == "storm_login"]
    ok = [e for e in logins if e[4]]
    release = next((e for e in events if e[1] == "storm_release"), None)
    deliver = [e[3] for e in events if e[1] == "deliver" and e[4]]
    first_send = release[2] if release else 0.0
    last_answer = max((e[2] + e[3] / 1000 for e in ok), default=first_send)
    return {
        "spread_ms": release[3] if release else None,
        "logins_ok": len(ok),
        "logins_failed": len(logins) - len(ok),
        "logins_per_s": len(ok) / (last_answer - first_send) if last_answer > first_send else 0.0,
        "login_latency_max_s": max((e[3] for e in ok), default=0.0) / 1000,
        "deliver_ms": latency_summary(deliver),
    }


def latency_summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "mean": statistics.fmean(ordered),
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


def run_perfgate(port: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = work / "perfgate-events.json"
    env = {
        **os.environ,
        "PERFGATE_STORM_LOGINS": str(args.logins),
        "PERFGATE_STORM_AT": str(args.storm_at),
        "PERFGATE_XMPP_USERS": str(SEEDED_USERS),
        "PYTHONPATH": str(REPO),  # loadtests/, as `locust -f loadtests/xmppstorm.py` finds it
    }
    host = f"xmpp://127.0.0.1:{port}"
    child = [sys.executable, str(LOCUST_CHILD), str(out), host, str(args.chatters), str(args.duration)]
    return run_generator(child, env, args.duration + 60, lambda: perfgate_figures(json.loads(out.read_text())))


def run_generator(command: list[str], env: dict[str, str], timeout_s: float, figures: Any) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.Popen(command, env=env, start_new_session=True, stdin=subprocess.DEVNULL)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        print(f"generator still running after {timeout_s:g} s: stopped", file=sys.stderr)
    finally:
        usage = sampler.stop()
        stop_tree(proc)
    return {"wall_s": time.monotonic() - started, **usage, **figures()}


def per_thousand(run: dict[str, Any], logins: int) -> dict[str, float]:
    """The generator's whole CPU per 1,000 storm logins, its peak RSS per 1,000 open descriptors."""
    return {
        "cpu_s_per_1000_logins": run["cpu_s"] * 1000 / logins,
        "rss_mb_per_1000_fds": run["peak_rss_mb"] * 1000 / max(run["peak_fds"], 1),
    }


# -- Tsung ------------------------------------------------------------------------------------


def tsung_config(port: int, args: argparse.Namespace) -> str:
    static = "\n    ".join(
        f'<user session="chat" start_time="{100 + 50 * n}" unit="millisecond"/>' for n in range(args.chatters)
    )
    fields = {
        "port": port,
        "logins": args.logins,
        "arrival_rate": args.arrival_rate,
        "arrival_s": 2 * -(-args.logins // args.arrival_rate) + 5,  # Poisson arrivals: room to start them all
        "max_users": args.logins + args.chatters + 100,
        "duration_s": int(args.duration),
        "barrier_timeout_ms": 5_000,  # released anyway 5 s after the last arrival, if some never connect
        "chatters": args.chatters,
        "rounds": 10_000,  # bounded by the load's duration
        "storm_user": STORM_ACCOUNT[0],
        "storm_password": STORM_ACCOUNT[1],
        "static_users": static,
    }
    return string.Template(TEMPLATE.read_text()).substitute(fields)


DUMP_LINE = re.compile(r"^(Send|Recv):([0-9.e+]+):(<[0-9.]+>):(.*)$")


def tsung_dump_figures(dump: Path) -> dict[str, Any]:
    """Release spread and login answers from tsung.dump (dumptraffic="light": each send and receive, timed)."""
    auth_sent: dict[str, float] = {}
    answer: dict[str, tuple[float, bool]] = {}
    chat_pids: set[str] = set()
    with dump.open(errors="replace") as lines:
        for line in lines:
            match = DUMP_LINE.match(line)
            if not match:
                continue
            kind, when, pid, data = match[1], float(match[2]), match[3], match[4].lstrip()
            if kind == "Send" and data.startswith("<auth"):
                auth_sent.setdefault(pid, when)
            elif kind == "Send" and data.startswith(("<iq", "<presence", "<message")):
                chat_pids.add(pid)
            elif (
                kind == "Recv" and pid in auth_sent and pid not in answer and ("<success" in data or "<failure" in data)
            ):
                answer[pid] = (when, "<success" in data)
    storm = {pid: sent for pid, sent in auth_sent.items() if pid not in chat_pids}
    if not storm:
        return {"spread_ms": None, "logins_ok": 0, "logins_failed": 0, "logins_per_s": 0.0}
    ok = {pid: answer[pid][0] for pid in storm if pid in answer and answer[pid][1]}
    first_send, last_answer = min(storm.values()), max(ok.values(), default=0.0)
    return {
        "spread_ms": (max(storm.values()) - first_send) * 1000,
        "logins_ok": len(ok),
        "logins_failed": len(storm) - len(ok),
        "logins_per_s": len(ok) / (last_answer - first_send) if last_answer > first_send else 0.0,
        "login_latency_max_s": max((ok[pid] - storm[pid] for pid in ok), default=0.0),
    }


STATS_LINE = re.compile(r"^stats: (\S+) (.*)$")


def tsung_log_stats(log: Path) -> dict[str, Any]:
    """tsung.log, over every 10 s dump. A sample's line is ``name count mean stddev max min total_mean
    total_count`` (for that interval); a counter's is ``name interval_value total``."""
    samples: dict[str, dict[str, float]] = {}
    counters: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = STATS_LINE.match(line)
        try:
            values = [float(v) for v in match[2].split()] if match else []
        except ValueError:
            continue
        if match and len(values) == 7 and values[0] > 0:
            seen = samples.setdefault(match[1], {"count": 0, "sum": 0.0, "max": 0.0})
            seen["count"] += values[0]
            seen["sum"] += values[0] * values[1]
            seen["max"] = max(seen["max"], values[3])
        elif match and len(values) == 2:
            counters[match[1]] = values[1]
    summary = {
        name: {"count": int(s["count"]), "mean": s["sum"] / s["count"], "max": s["max"]} for name, s in samples.items()
    }
    return {
        "deliver_ms": summary.get("xmpp_msg_latency", {"count": 0}),
        "tsung_samples": summary,
        "tsung_counts": counters,
    }


def run_tsung(port: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    config = work / "tsung_xmpp.xml"
    config.write_text(tsung_config(port, args))
    logs = work / "tsung-logs"
    logs.mkdir()
    env = {**os.environ, "ERL_EPMD_ADDRESS": "127.0.0.1", "HOME": str(work)}
    epmd_before = {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "epmd"}
    command = ["tsung", "-n", "-f", str(config), "-l", str(logs), "start"]

    def figures() -> dict[str, Any]:
        run_dirs = sorted(d for d in logs.iterdir() if d.is_dir())
        if not run_dirs:
            raise SystemExit(f"tsung wrote no log folder under {logs}")
        found = tsung_dump_figures(run_dirs[-1] / "tsung.dump")
        return {**found, **tsung_log_stats(run_dirs[-1] / "tsung.log"), "log_dir": str(run_dirs[-1])}

    try:
        return run_generator(command, env, args.duration + 90, figures)
    finally:
        for proc in psutil.process_iter(["name"]):  # the epmd this run started, if any
            if proc.info["name"] == "epmd" and proc.pid not in epmd_before:
                proc.terminate()


# -- both -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=10_000)
    parser.add_argument("--chatters", type=int, default=12)
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of load per tool")
    parser.add_argument("--storm-at", type=float, default=8.0, help="perfgate: release after this many seconds")
    parser.add_argument("--arrival-rate", type=int, default=1000, help="tsung: storm sessions started per second")
    parser.add_argument("--tools", default="perfgate,tsung")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (Prosody data, Tsung logs)")
    args = parser.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    if not tools or set(tools) - {"perfgate", "tsung"}:
        raise SystemExit(f"--tools: perfgate and/or tsung, comma-separated, got {args.tools!r}")
    if "tsung" in tools and not shutil.which("tsung"):
        raise SystemExit("tsung not found (apt-get install tsung)")
    work = Path(tempfile.mkdtemp(prefix="xmpp-vs-tsung-"))
    results: dict[str, Any] = {"logins": args.logins, "chatters": args.chatters, "duration_s": args.duration}
    try:
        data = work / "prosody"
        seed(data, args.chatters)
        for tool in tools:
            port = free_port()
            prosody = start_prosody(data, port)
            try:
                run = run_perfgate if tool == "perfgate" else run_tsung
                (work / tool).mkdir()
                results[tool] = run(port, work / tool, args)
                results[tool].update(per_thousand(results[tool], args.logins))
            finally:
                stop_tree(prosody)
            print(json.dumps({tool: {k: v for k, v in results[tool].items() if not k.startswith("tsung_")}}, indent=1))
    finally:
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
