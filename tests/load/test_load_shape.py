"""Locust's LoadTestShape in a scenario: the shape's users on each side alike, and its end ends the round."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate.config import load_config
from perfgate.errors import ConfigError, LoadError
from perfgate.load.runner import LoadSpec, LoadTarget, check_locustfile, run_load
from perfgate.load.shape import ShapeError, pick_shape, read_tick, user_counts
from perfgate.model import Side

LOCUSTFILE = """
import itertools

from locust import HttpUser, LoadTestShape, constant, task

ids = itertools.count()


class Browser(HttpUser):
    wait_time = constant(0.05)

    def on_start(self):
        self.me = next(ids)

    @task
    def page(self):
        self.client.get("/page", name=f"user-{self.me}")


class Steps(LoadTestShape):
    # 1 user a side, then 3, then stop: the round ends at 4 s of its planned 20.5
    def tick(self):
        t = self.get_run_time()
        return (1, 10) if t < 1.5 else (3, 10) if t < 4 else None
"""

SECOND_SHAPE = """

class Flat(LoadTestShape):
    def tick(self):
        return (2, 10)
"""


def _spec(locustfile: Path, host: str, shape: str | bool = True) -> LoadSpec:
    sides = (Side.BASELINE, Side.CANDIDATE)
    return LoadSpec(
        str(locustfile), ("Browser",), 5, 5.0, 0.5, 20.0, tuple(LoadTarget(s, host) for s in sides), shape=shape
    )


@pytest.mark.e2e  # real Locust load
def test_the_shape_sets_each_sides_users_and_its_end_ends_the_round(server: str, tmp_path: Path) -> None:
    locustfile = tmp_path / "steps.py"
    locustfile.write_text(LOCUSTFILE)
    result = run_load(_spec(locustfile, server), tmp_path / "load")
    samples = result.samples.to_pandas()
    elapsed_s = (result.ended_ns - result.started_ns) / 1e9
    assert 3.5 < elapsed_s < 10, "the shape's None ends the round, long before warm-up + duration"
    first = samples[samples["t_ns"] < result.started_ns + 1e9]
    for side in ("baseline", "candidate"):
        assert first[first["side"] == side]["name"].nunique() == 1  # the shape's first step: 1 user a side
        assert samples[samples["side"] == side]["name"].nunique() == 3  # then 3, never more
    assert set(samples["side"]) == {"baseline", "candidate"}


@pytest.mark.e2e  # a real load process imports the locustfile
def test_the_check_names_the_shape_and_refuses_a_missing_or_ambiguous_one(server: str, tmp_path: Path) -> None:
    locustfile = tmp_path / "steps.py"
    locustfile.write_text(LOCUSTFILE)
    assert check_locustfile(_spec(locustfile, server), tmp_path / "a").shape == "Steps"
    assert check_locustfile(_spec(locustfile, server, shape=False), tmp_path / "b").shape == ""
    with pytest.raises(LoadError, match=r"steps.py: shape: no LoadTestShape 'Ramp' \(found: Steps\)"):
        check_locustfile(_spec(locustfile, server, shape="Ramp"), tmp_path / "c")
    locustfile.write_text(LOCUSTFILE + SECOND_SHAPE)
    with pytest.raises(LoadError, match=r"has 2 LoadTestShape classes; name one \(Flat, Steps\)"):
        check_locustfile(_spec(locustfile, server), tmp_path / "d")
    assert check_locustfile(_spec(locustfile, server, shape="Flat"), tmp_path / "e").shape == "Flat"


class _Shape:
    pass


class Steps(_Shape):
    pass


class Flat(_Shape):
    pass


def test_pick_shape_follows_locusts_rule_unless_the_scenario_names_one() -> None:
    steps, flat = Steps(), Flat()
    assert pick_shape([], True) is None and pick_shape([steps], True) is steps
    assert pick_shape([steps], False) is None and pick_shape([steps, flat], "Flat") is flat
    with pytest.raises(ShapeError, match="name one"):
        pick_shape([steps, flat], True)  # type: ignore[list-item]
    with pytest.raises(ShapeError, match="no LoadTestShape 'Ramp'"):
        pick_shape([steps], "Ramp")  # type: ignore[list-item]


class A:
    weight = 3


class B:
    weight = 1


class Pinned:
    fixed_count = 2


def test_user_counts_fixed_first_then_by_weight() -> None:
    assert user_counts(8, [A, B], every_class=True) == [6, 2]
    assert user_counts(1, [A, B], every_class=True) == [1, 1]  # a fixed-size round runs every class
    assert user_counts(1, [A, B], every_class=False) == [1, 0]  # a shape's total is exact
    assert user_counts(0, [A, B], every_class=False) == [0, 0]
    assert user_counts(3, [Pinned, A], every_class=False) == [2, 1]
    assert user_counts(1, [Pinned, A], every_class=False) == [1, 0]
    assert user_counts(1, [Pinned, A], every_class=True) == [2, 1]


def test_a_tick_may_name_the_classes_to_run() -> None:
    assert read_tick((4, 2.0), [A, B]) == ([3, 1], 2.0)
    assert read_tick((4, 2.0, [B]), [A, B]) == ([0, 4], 2.0)
    assert read_tick((4, 2.0, None), [A, B]) == ([3, 1], 2.0)


def test_shape_is_read_from_the_config(tmp_path: Path) -> None:
    config = '[load]\nshape = "Steps"\n[scenarios.steps]\n[scenarios.flat]\nshape = false\n'
    (tmp_path / "perfgate.toml").write_text(config)
    assert [s.shape for s in load_config(directory=tmp_path).scenarios] == ["Steps", False]
    (tmp_path / "perfgate.toml").write_text("[load]\nshape = 3\n")
    with pytest.raises(ConfigError, match=r"\[load\] shape: must be a LoadTestShape class name, true or false"):
        load_config(directory=tmp_path)
