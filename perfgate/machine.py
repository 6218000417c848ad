"""The machine a run was measured on: a description, and a fingerprint to key stored results."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
from functools import cache
from importlib import metadata
from typing import TypedDict

import psutil


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: Where a round's processes may run: anywhere ("free"), or the targets of both sides on the
#: same cores and the load generator on the others ("shared").
PLACEMENTS = ("free", "shared")


def cpu_placement(placement: str) -> tuple[frozenset[int] | None, frozenset[int] | None]:
    """(the targets' CPUs, the generator's CPUs) for ``placement``; None leaves it to the OS.

    "shared" puts both duet targets on the same CPUs, so that whatever else runs there
    slows both sides alike, and keeps the generator off them. It needs two CPUs or more.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if placement == "free" or len(cpus) < 2:
        return None, None
    return frozenset(cpus[1:]), frozenset(cpus[:1])


class MachineInfo(TypedDict):
    hostname: str
    cpu_count: int | None
    cpu_model: str
    memory_bytes: int
    platform: str


@cache
def machine_info() -> MachineInfo:
    return {
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
    }


def fingerprint() -> str:
    """Stable for one machine and toolchain: hardware, OS kernel family, Python."""
    info = machine_info()
    key = "|".join(
        str(x)
        for x in (
            info["cpu_model"],
            info["cpu_count"],
            info["memory_bytes"] // 2**30,
            platform.machine(),
            platform.python_version(),
        )
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions() -> dict[str, str]:
    return {"perfgate": _version("perfgate"), "locust": _version("locust"), "python": platform.python_version()}
