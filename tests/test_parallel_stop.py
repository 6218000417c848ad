"""Stopping a round's targets: together, within one stop_timeout; and the CI workflow lets the signal reach perfgate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

import yaml

from perfgate.config import Config, ScenarioConfig, TargetConfig
from perfgate.faults.round import FaultPlan
from perfgate.model import RoundSpec, Side
from perfgate.rig import build_sides

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"

#: A target that answers 200 and shrugs SIGTERM off for 30 s (as a slow-draining server would).
STUBBORN = textwrap.dedent("""
    import http.server, signal, sys, time
    signal.signal(signal.SIGTERM, lambda *a: None)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


def test_two_stubborn_targets_stop_in_about_one_stop_timeout(tmp_path):
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    stop_timeout = 2.0
    target = TargetConfig(
        command=f"exec {sys.executable} {script} {{port}}", ready_path="/", ready_timeout=20, stop_timeout=stop_timeout
    )
    config = Config(path=tmp_path / "perfgate.toml", root=tmp_path, target=target)
    spec = RoundSpec(index=0, scenario="chat", sides=(Side.BASELINE, Side.CANDIDATE), pair=0)
    checkouts = {Side.BASELINE: tmp_path, Side.CANDIDATE: tmp_path}
    stack = ExitStack()
    with stack:
        rigs = build_sides(stack, config, ScenarioConfig(name="chat"), FaultPlan(), spec, checkouts, tmp_path / "round")
        for rig in rigs:
            rig.target.wait_ready()
        procs = [rig.target.proc for rig in rigs]
        started = time.monotonic()
    took = time.monotonic() - started
    assert all(p is not None and p.returncode is not None for p in procs)
    assert stop_timeout * 0.9 < took < 1.6 * stop_timeout, f"stopping two targets took {took:.1f}s"


def _action_gate_step() -> dict:
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    return next(s for s in steps if s.get("id") == "gate")


def test_the_action_passes_a_cancel_signal_on_to_perfgate(tmp_path):
    """GitHub's cancel signal goes to the step's shell: the action's gate step passes it on to
    perfgate (which then stops its targets and worktrees) and records perfgate's exit code."""
    stub = tmp_path / "bin" / "perfgate"
    stub.parent.mkdir()
    marker = tmp_path / "signalled"
    stub.write_text(
        f"#!/bin/sh\ntrap 'echo TERM > {marker}; exit 130' TERM INT\necho $$ > {tmp_path / 'pid'}\n"
        "while :; do sleep 0.1; done\n"
    )
    stub.chmod(0o755)
    step = _action_gate_step()
    outputs = tmp_path / "github_output"
    env = {
        **os.environ,
        "PATH": f"{stub.parent}:{os.environ['PATH']}",
        "OUT": str(tmp_path / "out"),
        "GITHUB_OUTPUT": str(outputs),
    }
    shell = subprocess.Popen(["bash", "-e", "-c", step["run"]], env=env)
    deadline = time.monotonic() + 20
    while not (tmp_path / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "pid").exists(), "the stub perfgate never started"
    shell.send_signal(signal.SIGTERM)  # the runner cancelling the job
    assert shell.wait(20) == 0  # the step records the code; the action's last step decides
    assert marker.read_text().strip() == "TERM"  # perfgate got the signal
    assert "exit-code=130" in outputs.read_text()
    assert "steps.gate.outputs.exit-code" in ACTION.read_text()  # the last step decides from it
