"""``perfgate demo``: a whole gate on a scratch repository with a real regression.

It builds a git repository holding two commits of the bundled reference IM
service. The second raises scrypt's block size from 8 to 10 (a realistic
"hardening" change that costs every login 25% more CPU, near what a gate on a
small machine can resolve), then runs the full gate between them, with
perfgate's default profile, and prints the verdict and the report's path.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path

import git
from rich.console import Console

from perfgate.commands._common import (
    ReportRequest,
    RichProgress,
    add_gate_arguments,
    gate_options,
    publish,
    report_request,
)
from perfgate.commands.run import finish
from perfgate.config import load_config
from perfgate.errors import PerfgateError
from perfgate.outcome import Outcome

DEMO_CONFIG = """\
# perfgate demo: the reference IM service with perfgate's default profile.
[target]
command = "{python} -m loadtests.imserver --port {port} --data {data_dir} --seed-cache .imserver-seed"

[load]
locustfile = "loadtests/im.py"
user_classes = ["ChatUser"]
"""

#: ``perfgate demo --scenario redundancy``: logins through three auth backends (two SQLite, one
#: in memory) killed one after another until all are down (8-12 s), then back one by one.
_IM_SERVER = "{python} -m loadtests.imserver --port {port} --data {data_dir} --seed-cache .imserver-seed"
_AUTH_MEMBER = "{python} -m loadtests.imserver.authd --port {port} --data {data_dir} --seed-cache .imserver-seed"
REDUNDANCY_SCENARIO = f"""
[scenarios.chat]

[scenarios.redundancy]
warmup = 2
duration = 16
command = "{_IM_SERVER} --auth-backends {{auth}}"

[scenarios.redundancy.groups.auth]
members = [
  "{_AUTH_MEMBER} --store sqlite",
  "{_AUTH_MEMBER} --store memory",
  "{_AUTH_MEMBER} --store sqlite",
]

[[scenarios.redundancy.chaos]]
at = 4
action = "kill"
process = "auth"
stagger = 2
for = 8
"""
#: Scenarios the demo adds to its config only when ``--scenario`` asks for them.
EXTRA_SCENARIOS = {"redundancy": REDUNDANCY_SCENARIO}

SCRYPT_BLOCK = re.compile(r"^SCRYPT_R = (\d+)$", re.MULTILINE)
AUTHOR = git.Actor("perfgate demo", "demo@perfgate.invalid")


def build_demo_repo(path: Path, extra: tuple[str, ...] = ()) -> git.Repo:
    """Two commits of the IM service; the second costs every login 25% more CPU. ``extra``
    names scenarios of :data:`EXTRA_SCENARIOS` to add to the config."""
    import perfgate.reference

    source = Path(list(perfgate.reference.__path__)[0])
    target = path / "loadtests"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (path / "perfgate.toml").write_text(DEMO_CONFIG + "".join(EXTRA_SCENARIOS[name] for name in extra))
    (path / ".gitignore").write_text(".perfgate/\nreports/\n__pycache__/\n.imserver-seed/\n")
    repo = git.Repo.init(path)
    repo.git.add(A=True)
    repo.index.commit("IM service: scrypt login, WebSocket chat, SQLite history", author=AUTHOR, committer=AUTHOR)
    auth = target / "imserver" / "auth.py"
    text = auth.read_text()
    match = SCRYPT_BLOCK.search(text)
    if match is None:
        raise PerfgateError(f"{auth}: no 'SCRYPT_R = <int>' line to change for the demo")
    block = int(match.group(1))
    auth.write_text(SCRYPT_BLOCK.sub(f"SCRYPT_R = {block * 5 // 4}", text, count=1))
    repo.git.add(A=True)
    repo.index.commit(
        f"auth: raise scrypt's block size from {block} to {block * 5 // 4} to harden stored passwords",
        author=AUTHOR,
        committer=AUTHOR,
    )
    return repo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", type=Path, help="build the scratch repository here and keep it")
    add_gate_arguments(parser)


def run(args: argparse.Namespace, console: Console) -> Outcome:
    here = Path.cwd()
    repo_dir = args.keep or Path(tempfile.mkdtemp(prefix="perfgate-demo-"))
    try:
        repo_dir.mkdir(parents=True, exist_ok=True)
        build_demo_repo(repo_dir, tuple(name for name in EXTRA_SCENARIOS if name in args.scenario))
        config = load_config(repo_dir / "perfgate.toml")
        # Results and reports outlive the scratch repository.
        from dataclasses import replace

        config = replace(config, store=str(here / ".perfgate"), report_dir=str(here / "reports"))
        reports = report_request(
            args,
            ReportRequest(
                markdown=here / "reports" / "demo-summary.md",
                junit=here / "reports" / "demo-junit.xml",
                json_path=here / "reports" / "demo-verdict.json",
            ),
        )
        options = gate_options(args, "HEAD~1", "HEAD")
        console.print(
            f"demo repository: {repo_dir} (HEAD~1 → HEAD: scrypt block size 8 → 10, +25% CPU per login)", markup=False
        )
        from perfgate.gate import run_gate

        with RichProgress(console, quiet=args.quiet) as progress:
            result = run_gate(config, repo_dir, options, progress)
        return finish(result, publish(result, config, reports), args, config.judge.inconclusive)
    finally:
        if args.keep is None:
            shutil.rmtree(repo_dir, ignore_errors=True)
