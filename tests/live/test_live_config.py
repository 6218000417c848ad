"""Live targets' settings: required safety limits, read-only scenarios, URLs; one line and exit 3,
before anything is probed or started, and nothing left behind."""

from __future__ import annotations

import pytest

from perfgate.config import parse_config
from perfgate.errors import ConfigError
from perfgate.live import LiveBudget, check_live
from tests.support import assert_nothing_left, make_repo, run_cli

LIMITS = {"rate": 20, "max_requests": 1000, "max_duration": "2m"}
URLS = {"baseline_url": "http://127.0.0.1:9", "candidate_url": "http://127.0.0.1:9/"}


def config(tmp_path, live=None, target=None, load=None):
    raw = {"target": {**URLS, **(target or {})}, "live": dict(LIMITS if live is None else live)}
    raw["load"] = {"read_only": True, **(load or {})}
    return parse_config(raw, tmp_path / "perfgate.toml")


@pytest.mark.parametrize("key", ["rate", "max_requests", "max_duration"])
def test_every_safety_limit_is_required_for_live_targets(tmp_path, key):
    with pytest.raises(ConfigError, match=rf"perfgate.toml: \[live\] {key} is required for live targets"):
        check_live(config(tmp_path, live={k: v for k, v in LIMITS.items() if k != key}))


def test_local_targets_need_no_limits(tmp_path):
    check_live(parse_config({}, tmp_path / "perfgate.toml"))  # nothing live: nothing required


def test_a_scenario_not_marked_read_only_needs_allow_writes(tmp_path):
    with pytest.raises(ConfigError, match="'chat' is not marked read_only.*allow_writes"):
        check_live(config(tmp_path, load={"read_only": False}))
    check_live(config(tmp_path, live={**LIMITS, "allow_writes": True}, load={"read_only": False}))


def test_faults_and_workers_are_refused_against_live_targets(tmp_path):
    with pytest.raises(ConfigError, match="need targets that perfgate starts"):
        check_live(config(tmp_path, load={"faults": [{"at": 1, "for": 1, "toxic": "latency", "latency": 5}]}))
    with pytest.raises(ConfigError, match="workers = 0"):
        check_live(config(tmp_path, load={"workers": 2}))


def test_urls_are_checked_and_trailing_slashes_dropped(tmp_path):
    assert config(tmp_path).target.candidate_url == "http://127.0.0.1:9"
    with pytest.raises(ConfigError, match=r"\[target\] baseline_url: must be an http:// or https:// URL"):
        config(tmp_path, target={"baseline_url": "127.0.0.1:9"})
    with pytest.raises(ConfigError, match=r"\[live\] rate: must be at least 0.1"):
        config(tmp_path, live={**LIMITS, "rate": 0})


def test_the_budget_refuses_a_round_that_could_pass_the_cap_or_the_duration(tmp_path):
    budget = LiveBudget(config(tmp_path).live)
    assert budget.refusal(10.0, ["baseline", "candidate"]) == ""  # 20/s x 10 s + 1 = 201 of 1000
    budget.spend({"baseline": 800})
    assert "[live] max_requests (1000) leaves the baseline fewer than the 201" in budget.refusal(10.0, ["baseline"])
    assert budget.refusal(10.0, ["candidate"]) == ""
    assert "[live] max_duration (120 s)" in budget.refusal(121.0, ["candidate"])


def test_a_missing_limit_on_the_command_line_is_one_line_and_exit_3(tmp_path):
    make_repo(tmp_path, [{"perfgate.toml": "[load]\nread_only = true\n[live]\nrate = 5\nmax_requests = 100\n"}])
    result = run_cli(
        "run", "--baseline-url", "http://127.0.0.1:9", "--candidate-url", "http://127.0.0.1:9", cwd=tmp_path
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "[live] max_duration is required for live targets" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / ".perfgate").exists()  # refused before a run was made
    assert_nothing_left(tmp_path)


def test_a_bad_url_flag_and_an_unready_deployment_are_one_line_each(tmp_path):
    make_repo(tmp_path, [{"perfgate.toml": '[target]\nready_timeout = 1\n[load]\nread_only = true\n'
                          '[live]\nrate = 5\nmax_requests = 100\nmax_duration = 60\n'}])  # fmt: skip
    bad = run_cli("run", "--baseline-url", "ftp://x", "--candidate-url", "http://127.0.0.1:9", cwd=tmp_path)
    assert bad.returncode == 3 and "--baseline-url: must be an http:// or https:// URL" in bad.stderr, bad.stderr
    down = run_cli("run", "--baseline-url", "http://127.0.0.1:9", "--candidate-url", "http://127.0.0.1:9", cwd=tmp_path)
    assert down.returncode == 3, down.stderr
    assert "baseline (http://127.0.0.1:9) target not ready at http://127.0.0.1:9/healthz after 1s" in down.stderr
    assert "Traceback" not in down.stderr
    assert_nothing_left(tmp_path)


def test_nodes_refuses_bad_input_in_one_line(tmp_path):
    make_repo(tmp_path, [{"perfgate.toml": "[load]\nread_only = true\n[live]\nrate = 5\nmax_requests = 100\n"}])
    url = "http://127.0.0.1:9"
    cases = {
        ("nodes", url, url + "1"): "needs at least 3 URLs",
        ("nodes", url, "ftp://x", url + "2"): "URL: must be an http:// or https:// URL, not 'ftp://x'",
        ("nodes", url, url, url): "a URL is given twice",
        ("nodes", url, url + "1", url + "2"): "[live] max_duration is required for live targets",
        ("nodes", url, url + "1", url + "2", "--rounds", "2"): "--rounds: at least 3, not 2",
    }
    for args, line in cases.items():
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 3 and line in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert_nothing_left(tmp_path)


def test_commands_that_gate_commits_refuse_a_live_config(tmp_path):
    toml = f'[target]\nbaseline_url = "{URLS["baseline_url"]}"\ncandidate_url = "{URLS["baseline_url"]}"\n'
    repo = make_repo(tmp_path, [{"perfgate.toml": toml + "[load]\nread_only = true\n"}, {"a.txt": "x"}])
    result = run_cli("bisect", "HEAD~1", "HEAD", cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "live targets are gated by `perfgate run`" in result.stderr, result.stderr
    assert repo.git.worktree("list").count("\n") == 0
    assert_nothing_left(tmp_path)


def test_the_abort_threshold_cannot_be_switched_off(tmp_path):
    with pytest.raises(ConfigError, match=r"\[live\] abort_error_rate: must be between 0.001 and 1.0, not 0"):
        config(tmp_path, live={**LIMITS, "abort_error_rate": 0})
