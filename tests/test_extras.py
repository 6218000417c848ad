"""A missing extra is one line naming it: the CLI in a real interpreter where boto3, botocore
and pymysql cannot be imported (as after ``pip install perfgate`` without extras)."""

from __future__ import annotations

import os
from pathlib import Path

import git

from tests.support import run_cli

UNINSTALLED = """
import importlib.abc, sys

class _Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"boto3", "botocore", "pymysql"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Uninstalled())
"""


def _without_extras(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(UNINSTALLED)
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def _one_line(result, *needles: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 3 and len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_an_s3_store_without_the_aws_extra(tmp_path):
    result = run_cli("report", "latest", "--store", "s3://bucket/team", cwd=tmp_path, env=_without_extras(tmp_path))
    _one_line(result, "boto3 is not installed", "pip install 'perfgate[aws]'")


def test_a_cluster_without_the_aws_extra(tmp_path):
    result = run_cli("infra", "status", cwd=tmp_path, env=_without_extras(tmp_path))
    _one_line(result, "EC2 cluster", "pip install 'perfgate[aws]'")


def test_a_mariadb_scenario_without_the_mariadb_extra_fails_before_anything_starts(tmp_path):
    svc = tmp_path / "svc"
    repo = git.Repo.init(svc)
    (svc / "perfgate.toml").write_text('[target]\ncommand = "true"\n[load]\ndatabase = "mariadb"\n')
    repo.git.add(A=True)
    repo.index.commit("one")
    repo.index.commit("two")
    result = run_cli(
        "run", "--baseline", "HEAD~1", "--candidate", "HEAD", cwd=tmp_path / "svc", env=_without_extras(tmp_path)
    )
    _one_line(result, "pymysql is not installed", "pip install 'perfgate[mariadb]'")
    assert not (tmp_path / "svc" / ".perfgate" / "runs").exists() or not any(
        (tmp_path / "svc" / ".perfgate" / "runs").iterdir()
    )
    assert len(repo.git.worktree("list").splitlines()) == 1  # no worktree left behind


def test_the_core_imports_without_any_extra(tmp_path):
    import subprocess
    import sys

    modules = "perfgate.cli perfgate.gate perfgate.report perfgate.history perfgate.bisect perfgate.leftovers"
    commands = " ".join(f"perfgate.commands.{c}" for c in ("run", "demo", "ci", "gc", "history", "hook", "init"))
    code = f"import importlib\nfor m in '{modules} {commands}'.split(): importlib.import_module(m)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **_without_extras(tmp_path)}
    )
    assert result.returncode == 0, result.stderr


def test_the_wheel_installs_only_the_perfgate_package(tmp_path):
    import zipfile

    from perfgate.cluster.bundle import build_wheel

    names = zipfile.ZipFile(build_wheel(tmp_path)).namelist()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"perfgate"}
    assert "perfgate/reference/imserver/__main__.py" in names and "perfgate/reference/im.py" in names
