"""The public API of perfgate.faults is what __all__ says, and importing it starts nothing."""

from __future__ import annotations

import subprocess
import sys
import types

import perfgate.faults as faults


def test_all_names_exist_and_are_documented() -> None:
    for name in faults.__all__:
        obj = getattr(faults, name)
        if callable(obj):
            assert obj.__doc__, name
    public = {n for n in dir(faults) if not n.startswith("_") and not isinstance(getattr(faults, n), types.ModuleType)}
    assert set(faults.__all__) <= public


def test_import_is_cheap_and_inert() -> None:
    code = "import sys, perfgate.faults; print('aiohttp' in sys.modules, 'locust' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
