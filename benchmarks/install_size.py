"""Install size and import time of perfgate's core and of each extra, in fresh virtual environments.

    python benchmarks/install_size.py [--keep DIR]

For each of "core" (pip install .), "aws" (.[aws]) and "mariadb" (.[mariadb]): the venv's size
on disk, the number of installed distributions, and the median of 5 cold-ish imports of
``perfgate.cli`` (what every command pays) and ``perfgate.gate`` (what a gate pays).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
VARIANTS = {"core": "", "aws": "[aws]", "mariadb": "[mariadb]"}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _import_s(python: Path, module: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([str(python), "-c", f"import {module}"], check=True, cwd="/")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(root: Path) -> list[tuple[str, float, int, float, float]]:
    rows = []
    for name, extra in VARIANTS.items():
        venv = root / name
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"{PROJECT}{extra}"], check=True)
        listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True)
        packages = len([line for line in listed.stdout.splitlines() if line.strip()])
        rows.append((name, _size(venv) / 2**20, packages, _import_s(python, "perfgate.cli"), _import_s(python, "perfgate.gate")))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the venvs here and keep them")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="perfgate-install-"))
    try:
        rows = measure(root)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print("| install | venv size | distributions | import perfgate.cli | import perfgate.gate |")
    print("|---|---|---|---|---|")
    for name, mib, packages, cli_s, gate_s in rows:
        print(f"| `pip install .{VARIANTS[name]}` | {mib:.0f} MiB | {packages} | {cli_s * 1000:.0f} ms | {gate_s * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
