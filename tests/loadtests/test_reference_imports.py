"""The reference scenarios import from an installed perfgate, in a folder with no checkout:
a user's locustfile does ``from perfgate.reference.xmppstorm import XmppStormUser``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import perfgate.reference

MODULES = sorted(p.stem for p in Path(perfgate.reference.__file__).parent.glob("*.py") if p.stem != "__init__")


def test_every_reference_scenario_is_listed() -> None:
    assert {"im", "storm", "xmpp", "xmppclient", "xmppstorm"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_it_imports_outside_a_checkout(module: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", f"import perfgate.reference.{module}"],
        cwd=tmp_path,  # no loadtests/ here
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
