"""``perfgate infra plan|up|status|down|gc`` through the real CLI, against moto's server."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate.cli import main
from tests.cluster.cloud import count_left


def test_plan_prints_cost_and_limits(moto_url: str, repo: Path, capsys: pytest.CaptureFixture) -> None:
    (repo / "perfgate-infra.toml").write_text('bucket = "pg-test"\nworkers = 10\nworker_type = "c7i.large"\n')
    assert main(["infra", "plan", "--repo", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "12 instances: $1.072/hour" in out  # 12 × 0.0893
    assert "per run" in out and "limit vCPU quota" in out and "quota not checked" in out
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}


@pytest.mark.e2e  # perfgate infra up brings a whole cluster up on moto
def test_up_status_down_gc(moto_url: str, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (repo / "perfgate-infra.toml").write_text('bucket = "pg-test"\nworkers = 2\n')
    assert (
        main(["infra", "up", "--repo", str(repo), "--minutes", "20", "--baseline", "HEAD~1", "--candidate", "HEAD"])
        == 0
    )
    run_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert count_left(moto_url)["instances"] == 4
    assert main(["infra", "status", "--repo", str(repo)]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["infra", "gc", "--repo", str(repo)]) == 0  # not expired: untouched
    assert count_left(moto_url)["instances"] == 4
    assert main(["infra", "down", run_id, "--repo", str(repo)]) == 0
    assert "4 instances, 3 security groups" in capsys.readouterr().out
    assert count_left(moto_url) == {"instances": 0, "security_groups": 0, "objects": 0}


def test_errors_are_one_line(moto_url: str, repo: Path, capsys: pytest.CaptureFixture) -> None:
    (repo / "perfgate-infra.toml").write_text('bucket = "pg-test"\nworkers = 40\nmax_instances = 10\n')
    assert main(["infra", "up", "--repo", str(repo), "--minutes", "20"]) == 3
    err = capsys.readouterr().err.strip()
    assert "max_instances" in err and "\n" not in err and "Traceback" not in err
    (repo / "perfgate-infra.toml").write_text("bogus = 1\n")
    assert main(["infra", "plan", "--repo", str(repo)]) == 3
    assert "bogus: unknown key" in capsys.readouterr().err
    assert main(["infra", "down", "--repo", str(repo)]) == 3
