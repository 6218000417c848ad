"""Redundant auth backends of the reference IM service, killed or paused: 1, 2, then all 3.

    python benchmarks/redundancy.py [--faults kill,pause] [--down 1,2,3] [--users 4] [--keep DIR]

Each case is one real gate (``perfgate run``, an A/A comparison of one commit, 2 duet rounds)
on a scratch repository of the bundled IM service with logins checked by three auth backends
(``loadtests.imserver.authd``: two SQLite, one in memory). The scenario kills (SIGKILL) or
pauses (SIGSTOP) the first 1, 2 or 3 backends, 1.5 s apart, each for 6 s (then restarted or
resumed). The figures are the ones the gate stores (``RedundancyFigures``), per round and side,
so 4 values per case; the table shows their median:

* per phase: logins (success, p50, slowest) and chat (sends ok, deliver p50);
* shed: a backend's outage to the service's circuit breaker opening on it (the service stops
  sending it logins), from the service's ``/metrics``;
* error window: first to last failed login; all down: how long every backend was down;
* recover: the first backend back after all-down, to the first good login answered;
* chat rate: good sends per second while all down, over the same while all up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from perfgate.commands.demo import build_demo_repo
from perfgate.figures import RedundancyFigures
from perfgate.store import LocalStore

MEMBER = "{python} -m loadtests.imserver.authd --port {port} --data {data_dir} --seed-cache .imserver-seed --store "
TARGET = "{python} -m loadtests.imserver --port {port} --data {data_dir} --seed-cache .imserver-seed"
PHASES = ("all up", "one down", "two down", "all down", "recovering")


def config(fault: str, down: int, users: int) -> str:
    members = ", ".join(f'"{MEMBER}{store}"' for store in ("sqlite", "memory", "sqlite"))
    return f"""
[load]
users = {users}
spawn_rate = {users}
warmup = 1
duration = 14

[rounds]
count = 2
max = 2

[scenarios.redundancy]
command = "{TARGET} --auth-backends {{auth}}"

[scenarios.redundancy.groups.auth]
members = [{members}]

[[scenarios.redundancy.chaos]]
at = 3
action = "{fault}"
process = "auth"
members = {list(range(down))}
stagger = 1.5
for = 6
"""


def run_case(repo: Path, fault: str, down: int, users: int) -> list[RedundancyFigures]:
    (repo / "perfgate.toml").write_text(config(fault, down, users))
    verdict = repo / f"verdict-{fault}-{down}.json"
    command = [sys.executable, "-m", "perfgate.cli", "run", "--baseline", "HEAD", "--candidate", "HEAD"]
    done = subprocess.run([*command, "--json", str(verdict), "--quiet"], cwd=repo, check=False, capture_output=True)
    if not verdict.is_file():
        raise SystemExit(f"{fault} {down}: the gate exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    run_id = json.loads(verdict.read_text())["run_id"]
    return [f for record in LocalStore(repo / ".perfgate").rounds(run_id) for f in record.figures(RedundancyFigures)]


def median(values: list[float | None], fmt: Callable[[float], str]) -> str:
    known = [v for v in values if v is not None]
    return fmt(statistics.median(known)) if known else "–"


def row(fault: str, down: int, figures: list[RedundancyFigures]) -> str:
    def phase(name: str, value: Callable[..., float | None]) -> list[float | None]:
        return [value(p) for f in figures if (p := f.phase(name)) is not None]

    cells = [f"{fault} {down}"]
    for name in PHASES[1:4]:
        ok = median(phase(name, lambda p: p.login_ok_rate), lambda v: f"{v * 100:.0f}%")
        p50 = median(phase(name, lambda p: p.login_p50_ms), lambda v: f"{v:.0f}")
        slowest = median(phase(name, lambda p: p.login_max_ms), lambda v: f"{v:.0f}")
        cells.append(f"{ok} · {p50} · {slowest}" if ok != "–" else "–")
    down_chat = median(phase("all down", lambda p: p.send_ok_rate), lambda v: f"{v * 100:.1f}%")
    deliver = median(phase("all down", lambda p: p.deliver_p50_ms), lambda v: f"{v:.1f}")
    shed = [s for f in figures for s in f.shed_ms]
    cells += [
        f"{down_chat} · {deliver}" if down_chat != "–" else "–",
        median([f.chat_continuity for f in figures], lambda v: f"{v * 100:.0f}%"),
        median(shed, lambda v: f"{v:.0f}"),
        median([f.login_error_window_ms for f in figures], lambda v: f"{v / 1000:.2f}"),
        median([f.all_down_ms for f in figures], lambda v: f"{v / 1000:.2f}"),
        median([f.recover_ms for f in figures], lambda v: f"{v:.0f}"),
        median(phase("recovering", lambda p: p.login_ok_rate), lambda v: f"{v * 100:.0f}%"),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| case | one down: logins ok · p50 · slowest ms | two down | all down | all down: chat ok · deliver p50 ms "
    "| chat rate | shed ms | login error window s | all down s | recover ms | recovering: logins ok |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default="kill,pause")
    parser.add_argument("--down", default="1,2,3")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="build the scratch repository here and keep it")
    args = parser.parse_args()
    repo_dir = args.keep or Path(tempfile.mkdtemp(prefix="perfgate-redundancy-"))
    repo = build_demo_repo(repo_dir)
    repo.git.reset("--hard", "HEAD~1")
    print(HEADER)
    for fault in args.faults.split(","):
        for down in (int(d) for d in args.down.split(",")):
            print(row(fault, down, run_case(repo_dir, fault, down, args.users)), flush=True)


if __name__ == "__main__":
    main()
