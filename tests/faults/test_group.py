"""Groups of redundant dependency processes in the config, and chaos and fault items naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate.config import load_config
from perfgate.errors import ConfigError
from perfgate.faults.chaos import Action
from perfgate.faults.round import plan_faults

MEMBER = "{python} -m loadtests.imserver.authd --port {port} --data {data_dir} --store STORE"
HEAD = f"""
[scenarios.r]
command = "{{python}} -m loadtests.imserver --port {{port}} --data {{data_dir}} --auth-backends {{auth}}"
duration = 20
[scenarios.r.groups.auth]
members = ["{MEMBER.replace("STORE", "sqlite")}", "{MEMBER.replace("STORE", "memory")}", "{MEMBER}"]
"""


def plan(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "perfgate.toml"
    path.write_text(HEAD + text)
    return plan_faults(load_config(path).scenario("r"))


def test_a_group_is_configured_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "perfgate.toml").write_text(HEAD)
    group = load_config(tmp_path / "perfgate.toml").scenario("r").groups["auth"]
    assert len(group["members"]) == 3 and group["ready_path"] == "/healthz" and group["ready_timeout"] == 30.0


def test_chaos_on_the_group_hits_chosen_members_staggered(tmp_path: Path) -> None:
    chaos = plan(
        tmp_path,
        """
[[scenarios.r.chaos]]
at = 4
action = "kill"
process = "auth"
members = [2, 0]
stagger = "1.5s"
for = 3
[[scenarios.r.chaos]]
at = 10
action = "pause"
process = "auth"
for = 2
""",
    ).chaos
    assert [(c.process, c.at, c.action, c.duration) for c in chaos] == [
        ("auth-2", 4.0, Action.KILL, 3.0),
        ("auth-0", 5.5, Action.KILL, 3.0),
        ("auth-0", 10.0, Action.PAUSE, 2.0),
        ("auth-1", 10.0, Action.PAUSE, 2.0),
        ("auth-2", 10.0, Action.PAUSE, 2.0),
    ]


def test_faults_on_the_group_and_on_one_member(tmp_path: Path) -> None:
    faults = plan(
        tmp_path,
        """
[[scenarios.r.faults]]
at = 2
for = 3
link = "auth"
toxic = "timeout"
timeout = 0
stagger = 1
[[scenarios.r.faults]]
at = 9
for = 1
link = "auth-1"
toxic = "down"
""",
    ).faults
    assert [(f.proxy, f.at_s, f.toxic) for f in faults] == [
        ("auth-0", 2.0, "timeout"),
        ("auth-1", 3.0, "timeout"),
        ("auth-2", 4.0, "timeout"),
        ("auth-1", 9.0, "down"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[scenarios.r.chaos]]\nat = 1\naction = "kill"\nprocess = "auth"\nmembers = [3]', "chaos[0].members"),
        ('[[scenarios.r.chaos]]\nat = 1\naction = "kill"\nprocess = "auth"\nmembers = []', "chaos[0].members"),
        ('[[scenarios.r.chaos]]\nat = 1\naction = "kill"\nprocess = "target"\nstagger = 1', "chaos[0].stagger"),
        ('[[scenarios.r.chaos]]\nat = 1\naction = "kill"\nprocess = "auth-3"', "unknown process 'auth-3'"),
        ('[[scenarios.r.chaos]]\nat = 1\naction = "kill"\nprocess = "auth"\nstagger = "x"', "stagger"),
        ('[[scenarios.r.chaos]]\nat = 1\naction = "boom"\nprocess = "auth"', "chaos[0].action"),
        ('[[scenarios.r.faults]]\nat = 1\nfor = 1\nlink = "auth"\ntoxic = "down"\nmembers = [0, 0]', "members"),
    ],
)
def test_bad_group_items_name_the_item_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        plan(tmp_path, text)


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("[scenarios.r.groups.port]\nmembers = ['x']", "groups] port: a group name"),
        ("[scenarios.r.groups.db]\nmembers = []", "members: must be a non-empty list"),
        ("[scenarios.r.groups.db]\nmembers = ['x {nope}']", "unknown placeholder {nope}"),
        ("[scenarios.r.groups.db]\nmembers = ['x']\nready = 1", "unknown key"),
    ],
)
def test_bad_groups_name_the_file_and_key(tmp_path: Path, group: str, message: str) -> None:
    path = tmp_path / "perfgate.toml"
    path.write_text(HEAD + group)
    with pytest.raises(ConfigError, match=str(path)) as err:
        load_config(path)
    assert message in str(err.value)


def test_the_target_command_may_name_only_known_groups(tmp_path: Path) -> None:
    path = tmp_path / "perfgate.toml"
    path.write_text(HEAD.replace("{{auth}}", "{{authx}}").replace("{auth}", "{authx}"))
    with pytest.raises(ConfigError, match="unknown placeholder {authx}"):
        load_config(path)
