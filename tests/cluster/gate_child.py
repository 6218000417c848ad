"""Run a gate on the local cloud in a process of its own: ``python gate_child.py REPO OUT``.

Prints ``ready`` once every node has booted, so a test can signal it mid-run.
"""

import sys
from pathlib import Path

from perfgate.cli import main as _unused  # noqa: F401  (same imports as the CLI)
from perfgate.cluster.base import InfraSettings
from perfgate.cluster.remote import RemoteRounds, run_gate_on_cluster
from perfgate.config import load_config
from perfgate.gate import GateOptions


class Announce(RemoteRounds):
    def wait_ready(self) -> None:
        super().wait_ready()
        print(f"ready {self.handle.run_id}", flush=True)


if __name__ == "__main__":
    import perfgate.cluster.remote as remote

    remote.RemoteRounds = Announce
    repo, out = Path(sys.argv[1]), Path(sys.argv[2])
    settings = InfraSettings(bucket="pg-test", workers=2, owner="ci@test", max_duration_min=60)
    try:
        run_gate_on_cluster(
            load_config(directory=repo),
            repo,
            GateOptions("HEAD~1", "HEAD"),
            settings,
            backend="local-cloud",
            cache_dir=out / "wheels",
            boot_timeout=240,
        )
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
