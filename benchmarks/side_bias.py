"""Does one side of a duet round run faster for being that side? A/A gates answer it.

    python benchmarks/side_bias.py record --gates 3 --out /tmp/aa-prosody     # Prosody, a comment change
    python benchmarks/side_bias.py analyse --out /tmp/aa-prosody

``record`` makes a git repository of ``examples/prosody`` with one commit that adds a comment
to ``prosody.cfg.lua`` (the A/A pair of ``tests/e2e/test_prosody_gate_e2e.py``), then runs
``perfgate run --baseline HEAD~1 --candidate HEAD --no-reuse`` ``--gates`` times, each with
``--rounds`` pairs and no confirmation pairs. ``analyse`` reads every pair back from the store
and prints, per request name, the candidate/baseline ratio of the p50s: its median over the
pairs, how many pairs the candidate was slower in, and a two-sided sign test. Identical code
should give a median near 1 and about half the pairs each way; a name whose pairs lean one
way in every gate is a side bias, not noise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from perfgate.store import LocalStore

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "prosody"


def make_repo(path: Path) -> None:
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns("__pycache__"))
    (path / ".gitignore").write_text(".perfgate/\nreports/\n__pycache__/\n")

    def git(*args: str) -> None:
        who = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        subprocess.run(["git", *who, *args], cwd=path, check=True)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "prosody")
    config = path / "prosody.cfg.lua"
    config.write_text("-- Reviewed: no change in behaviour.\n" + config.read_text())
    git("commit", "-qam", "prosody: a comment")


def record(out: Path, gates: int, rounds: int, scenario: str) -> None:
    repo = out / "repo"
    if not repo.exists():
        make_repo(repo)
    for n in range(gates):
        verdict = out / f"gate{n:02d}.json"
        args = ["--rounds", str(rounds), "--max-rounds", str(rounds), "--scenario", scenario]
        cmd = [sys.executable, "-m", "perfgate.cli", "run", "--baseline", "HEAD~1", "--candidate", "HEAD", *args]
        result = subprocess.run([*cmd, "--no-reuse", "--json", str(verdict)], cwd=repo)
        print(f"gate {n}: exit {result.returncode}", flush=True)


def pair_ratios(out: Path) -> dict[str, list[tuple[float, str]]]:
    """Per request name: (candidate p50 / baseline p50, the side the round started first) per pair."""
    store = LocalStore(out / "repo" / ".perfgate")
    ratios: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for run in store.list_runs():
        for record in store.rounds(run.run_id):
            if not record.valid:
                continue
            samples = store.samples(run.run_id, record.index)
            samples = samples[samples["ok"] & ~samples["warmup"]]
            p50 = samples.groupby(["name", "side"])["latency_us"].median().unstack()
            for name, row in p50.iterrows():
                if row.get("baseline", 0) > 0 and row.get("candidate", 0) > 0:
                    ratios[str(name)].append((row["candidate"] / row["baseline"], str(record.sides[0])))
    return ratios


def analyse(out: Path) -> None:
    verdicts = sorted(out.glob("gate*.json"))
    print("gates:", ", ".join(json.loads(v.read_text())["verdict"] for v in verdicts))
    header = f"{'name':<10} {'pairs':>5} {'median':>7} {'cand slower':>11} {'sign p':>7}"
    print(header, " median by first side: baseline / candidate")
    for name, pairs in sorted(pair_ratios(out).items()):
        values = np.array([r for r, _ in pairs])
        slower = int((values > 1).sum())
        p = binomtest(slower, len(values)).pvalue
        by_first = {
            first: np.median([r for r, f in pairs if f == first]) if any(f == first for _, f in pairs) else float("nan")
            for first in ("baseline", "candidate")
        }
        print(
            f"{name:<10} {len(values):>5} {np.median(values):>7.3f} {slower:>5}/{len(values):<5} {p:>7.3f}"
            f"  {by_first['baseline']:.3f} / {by_first['candidate']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("record", "analyse"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--gates", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--scenario", default="chat")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "record":
        record(args.out, args.gates, args.rounds, args.scenario)
    analyse(args.out)


if __name__ == "__main__":
    main()
