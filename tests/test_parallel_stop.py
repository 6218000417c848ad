"""Stopping a round's targets: together, within one stop_timeout; and the CI workflow lets the signal reach perfgate."""

from __future__ import annotations

import os
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
WORKFLOW = ROOT / "infra" / "ci" / "perfgate.yml"

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


def _gate_step() -> dict:
    flow = yaml.safe_load(WORKFLOW.read_text())
    return next(s for s in flow["jobs"]["gate"]["steps"] if "perfgate ci" in s.get("run", ""))


def test_the_workflow_runs_perfgate_as_the_step_process(tmp_path):
    """GitHub's cancel signal goes to the step's shell: with ``exec`` that shell *is* perfgate."""
    stub = tmp_path / "bin" / "perfgate"
    stub.parent.mkdir()
    stub.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'pid'}\nexit 1\n")
    stub.chmod(0o755)
    step = _gate_step()
    env = {
        **os.environ,
        "PATH": f"{stub.parent}:{os.environ['PATH']}",
        "PERFGATE_OUT": str(tmp_path / "out"),
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
    }
    shell = subprocess.Popen(["bash", "-e", "-c", step["run"]], env=env)
    assert shell.wait(30) == 1  # the gate's exit code is the step's
    assert int((tmp_path / "pid").read_text()) == shell.pid  # perfgate replaced bash: it gets the signal
    assert step.get("continue-on-error") is True  # so that the report and the comment still go out
    flow_text = WORKFLOW.read_text()
    assert "steps.gate.outputs.exit-code" in flow_text  # the last step decides from perfgate's own output
