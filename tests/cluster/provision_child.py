"""Run ``Ec2Cluster.up`` and pause after each step: ``python provision_child.py BUNDLE_DIR``.

It prints ``step NAME`` after each step and waits for a line on stdin before going
on, so a test can SIGKILL it exactly between two steps.
"""

import sys
from pathlib import Path

from perfgate.cluster.base import InfraSettings
from perfgate.cluster.ec2 import Ec2Cluster


def pause(name: str) -> None:
    print(f"step {name}", flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    bundle = {
        name: next(folder.glob(pattern))
        for name, pattern in {
            "wheel": "*.whl",
            "baseline": "baseline.tar",
            "candidate": "candidate.tar",
            "config": "config.json",
        }.items()
    }
    settings = InfraSettings(bucket="pg-test", workers=3, owner="ci@test")
    handle = Ec2Cluster(settings).up(settings, bundle, minutes=30, on_step=pause)
    print(f"up {handle.run_id}", flush=True)
