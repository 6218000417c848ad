"""What a cluster needs from here: both revisions' source (git archive), the perfgate wheel, the config."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import git

import perfgate
from perfgate.errors import InfraError
from perfgate.gitops import WORKTREE
from perfgate.model import Revision

#: What goes into the wheel: hashed to key the cache.
WHEEL_SOURCES = ("perfgate", "pyproject.toml", "README.md")


def project_root() -> Path:
    root = Path(perfgate.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise InfraError(f"{root}: no pyproject.toml; the perfgate wheel is built from a source checkout")
    return root


def source_archive(repo: git.Repo, revision: Revision, out: Path) -> Path:
    """``git archive`` of a revision; the working tree's tracked changes go in via ``git stash create``."""
    sha = revision.sha
    if revision.label == WORKTREE:
        sha = repo.git.stash("create").strip() or repo.head.commit.hexsha
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        repo.git.archive("--format=tar", f"--output={out}", sha)
    except git.GitCommandError as exc:
        raise InfraError(f"git archive {revision.label}: {exc.stderr.strip()}") from exc
    return out


def _source_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for name in WHEEL_SOURCES:
        path = root / name
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            if path.is_dir()
            else ([path] if path.is_file() else [])
        )
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def build_wheel(cache_dir: Path) -> Path:
    """The perfgate wheel of this source tree, built once per source hash (``pip wheel --no-deps``)."""
    root = project_root()
    slot = cache_dir / _source_hash(root)
    found = sorted(slot.glob("perfgate-*.whl"))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory(prefix="perfgate-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in WHEEL_SOURCES:  # build from a copy: pip writes build/ and egg-info in place
            path = root / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif path.is_file():
                shutil.copy2(path, src / name)
        (src / "README.md").touch()
        out = Path(tmp) / "out"
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        wheels = sorted(out.glob("perfgate-*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise InfraError(f"building the perfgate wheel failed: {last}")
        slot.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheels[0], slot / wheels[0].name)
    return slot / wheels[0].name


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=1, default=str))
    return path


def make_bundle(
    repo: git.Repo, revisions: dict[str, Revision], config: dict[str, Any], workdir: Path, cache_dir: Path
) -> dict[str, Path]:
    """name -> local file: ``wheel``, ``baseline``, ``candidate`` (tar) and ``config`` (JSON)."""
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = {"wheel": build_wheel(cache_dir), "config": write_config(workdir / "config.json", config)}
    for side, revision in revisions.items():
        bundle[side] = source_archive(repo, revision, workdir / f"{side}.tar")
    return bundle
