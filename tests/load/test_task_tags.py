"""Locust task tags in a scenario: only the tagged tasks run, on both sides."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate.config import load_config
from perfgate.errors import ConfigError
from perfgate.load.runner import LoadSpec, LoadTarget, run_load
from perfgate.model import Side

LOCUSTFILE = """
from locust import HttpUser, constant, tag, task


class Shopper(HttpUser):
    wait_time = constant(0.02)

    @tag("browse")
    @task
    def catalogue(self):
        self.client.get("/catalogue")

    @tag("buy")
    @task
    def checkout(self):
        self.client.get("/checkout")
"""


@pytest.mark.e2e  # real Locust load
@pytest.mark.parametrize("tags, exclude, names", [(("browse",), (), {"/catalogue"}), ((), ("browse",), {"/checkout"})])
def test_only_the_chosen_tags_run(server: str, tmp_path: Path, tags, exclude, names) -> None:
    locustfile = tmp_path / "shop.py"
    locustfile.write_text(LOCUSTFILE)
    spec = LoadSpec(
        str(locustfile),
        ("Shopper",),
        2,
        2.0,
        0.2,
        1.5,
        tuple(LoadTarget(side, server) for side in (Side.BASELINE, Side.CANDIDATE)),
        tags=tags,
        exclude_tags=exclude,
    )
    samples = run_load(spec, tmp_path / "load").samples.to_pandas()
    assert set(samples["name"]) == names and set(samples["side"]) == {"baseline", "candidate"}


def test_tags_are_read_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "perfgate.toml").write_text('[load]\ntags = ["browse"]\nexclude_tags = ["slow"]\n')
    scenario = load_config(directory=tmp_path).scenarios[0]
    assert (scenario.tags, scenario.exclude_tags) == (("browse",), ("slow",))
    (tmp_path / "perfgate.toml").write_text('[load]\ntags = "browse"\n')
    with pytest.raises(ConfigError, match=r"\[load\] tags: must be a list of Locust tag names"):
        load_config(directory=tmp_path)
