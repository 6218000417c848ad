"""`perfgate init` writes perfgate's own defaults, so the template cannot drift from the code."""

from __future__ import annotations

import tomllib
from pathlib import Path

from perfgate.commands.init import template
from perfgate.config import Config, parse_config


def test_the_init_template_parses_to_the_defaults():
    written = parse_config(tomllib.loads(template()), Path("/project/perfgate.toml"))
    default = Config(path=Path("/project/perfgate.toml"), root=Path("/project"))
    assert written.target == default.target
    assert written.scenarios == default.scenarios
    assert written.rounds == default.rounds
    assert written.judge == default.judge
