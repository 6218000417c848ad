"""The README's quick start stays true: two commands, and `.ci/run` runs the second."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)]


def test_the_quick_start_has_two_commands_install_and_demo_then_the_suite() -> None:
    demo, suite = _quick_start_commands()
    assert demo.endswith("perfgate demo") and "\n" not in demo
    assert "pytest" in suite and "\n" not in suite


def test_ci_runs_the_readme_test_command() -> None:
    suite = _quick_start_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert suite.replace("python3 ", "python ") in ci.splitlines()
