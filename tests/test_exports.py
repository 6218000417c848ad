"""Each public package's ``__all__`` is exactly the public names it defines or imports, so an export
that is missing (or one that names nothing) fails here; importing perfgate.faults starts nothing."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import pytest

import perfgate
import perfgate.faults as faults

#: Every perfgate package that defines ``__all__`` (test_every_package_with_all_is_checked keeps it complete).
PACKAGES = [
    "perfgate",
    "perfgate.cluster",
    "perfgate.config",
    "perfgate.deps",
    "perfgate.faults",
    "perfgate.judge",
    "perfgate.report",
    "perfgate.store",
]


#: Imported for the compiler or the type checker, never exported: ``from __future__ import annotations`` and
#: ``from typing import TYPE_CHECKING``.
NOT_EXPORTS = {"annotations", "TYPE_CHECKING"}


def public_names(module: types.ModuleType) -> set[str]:
    """What the package defines or imports under a public name: not ``_...``, no submodules, none of NOT_EXPORTS."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name not in NOT_EXPORTS
    }


def exported(module: types.ModuleType) -> list[str]:
    names = module.__all__
    assert isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names), module.__name__
    return list(names)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    names = exported(module)
    assert len(names) == len(set(names)), f"{name}.__all__ lists a name twice"
    assert not [n for n in names if not hasattr(module, n)], f"{name}.__all__ names what the package lacks"
    public = public_names(module)
    listed = {n for n in names if not n.startswith("_")}  # dunders such as __version__ may be exported too
    assert sorted(public - listed) == [], f"public in {name} but missing from its __all__"
    assert sorted(listed - public) == [], f"in {name}.__all__ but not a public name of it"


def test_every_package_with_all_is_checked() -> None:
    found = ["perfgate"] + [
        info.name
        for info in pkgutil.walk_packages(perfgate.__path__, "perfgate.")
        if info.ispkg and hasattr(importlib.import_module(info.name), "__all__")
    ]
    assert sorted(found) == sorted(PACKAGES)


def test_exported_callables_of_faults_are_documented() -> None:
    for name in faults.__all__:
        obj = getattr(faults, name)
        if callable(obj):
            assert obj.__doc__, name
    public = {n for n in dir(faults) if not n.startswith("_") and not isinstance(getattr(faults, n), types.ModuleType)}
    assert set(faults.__all__) <= public


def test_faults_import_is_cheap_and_inert() -> None:
    code = "import sys, perfgate.faults; print('aiohttp' in sys.modules, 'locust' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
