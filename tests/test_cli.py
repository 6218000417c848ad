import pytest

from perfgate.cli import exit_code
from perfgate.model import State
from tests.support import run_cli


@pytest.mark.parametrize(
    "state, policy, code",
    [
        (State.PASS, "warn", 0),
        (State.REGRESSION, "warn", 1),
        (State.INCONCLUSIVE, "warn", 2),
        (State.INCONCLUSIVE, "fail", 1),
        (State.INCONCLUSIVE, "pass", 0),
    ],
)
def test_exit_codes(state, policy, code):
    assert exit_code(state, policy) == code


def one_line_error(result, *needles):
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("perfgate: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_bad_arguments_are_errors_not_inconclusive(tmp_path):
    one_line_error(run_cli("run", "--rounds", "many", cwd=tmp_path), "--rounds")
    one_line_error(run_cli("frobnicate", cwd=tmp_path), "frobnicate")
    one_line_error(run_cli("history", "--penalty", "0", cwd=tmp_path), "--penalty")
    one_line_error(run_cli("history", "--limit", "0", cwd=tmp_path), "--limit")


def test_missing_config(tmp_repo):
    repo = tmp_repo([{"a.txt": "1"}, {"a.txt": "2"}])
    one_line_error(run_cli("run", cwd=repo.working_tree_dir), "perfgate init")


def test_invalid_config(tmp_repo):
    repo = tmp_repo([{"perfgate.toml": "[load]\nusers = -1\n"}, {"a.txt": "2"}])
    one_line_error(run_cli("run", cwd=repo.working_tree_dir), "perfgate.toml", "[load] users")


def test_unknown_revision(tmp_repo):
    repo = tmp_repo([{"perfgate.toml": ""}, {"a.txt": "2"}])
    one_line_error(run_cli("run", "--baseline", "v9.9", cwd=repo.working_tree_dir), "unknown revision 'v9.9'")


def test_not_a_repository(tmp_path):
    one_line_error(run_cli("run", cwd=tmp_path), "not inside a git repository")


def test_init_writes_and_refuses_to_overwrite(tmp_path):
    assert run_cli("init", "--demo", cwd=tmp_path).returncode == 0
    assert (tmp_path / "perfgate.toml").exists()
    one_line_error(run_cli("init", cwd=tmp_path), "already exists")


def test_compare_without_a_store(tmp_path):
    one_line_error(run_cli("compare", "latest", cwd=tmp_path), "no perfgate store")
