"""Every exception the package defines derives from MigrationHarnessError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import pytest

import migration_harness
from migration_harness import MigrationHarnessError
from migration_harness.target import SpecError

#: The built-in reference tool stands in for a user's tool: its errors are its own.
SKIPPED_PACKAGES = ("migration_harness.reference",)
#: ``python -m`` entry points run the CLI when imported.
MAIN = "__main__"
#: Standard modules that exist on one platform only: a per-platform module of the
#: package that imports one of them is checked on that platform's CI leg.
PLATFORM_ONLY = {"msvcrt", "winreg", "_winapi", "fcntl", "termios", "pwd", "grp", "resource"}
#: Caught inside the module that raises it and never seen by a caller: the mock
#: executable's body runs standalone (``python -I -S`` with only its own directory
#: on ``sys.path``), so it cannot import the package.
INTERNAL = {("migration_harness.mockbin._runner", "MockFailure")}


def _importable_modules() -> list[types.ModuleType]:
    modules = []
    for info in pkgutil.walk_packages(migration_harness.__path__, "migration_harness."):
        name = info.name
        if name.startswith(SKIPPED_PACKAGES) or name.rsplit(".", 1)[-1] == MAIN:
            continue
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name not in PLATFORM_ONLY:
                raise
    return modules


def _exceptions_defined_in(module: types.ModuleType) -> list[type[Exception]]:
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        # Not BaseException: pytest's outcomes and a SystemExit subclass (SIGTERM in the
        # Windows leg) must stay out of reach of ``except Exception``.
        if issubclass(obj, Exception)
        and obj.__module__ == module.__name__
        and (module.__name__, obj.__name__) not in INTERNAL
    ]


def test_every_package_exception_derives_from_the_base() -> None:
    found = {exc for module in _importable_modules() for exc in _exceptions_defined_in(module)}
    # About two dozen today: far fewer means the walk stopped seeing modules.
    assert len(found) >= 20, f"the walk found too few exception classes: {found}"
    strays = sorted(
        f"{exc.__module__}.{exc.__qualname__}"
        for exc in found
        if not issubclass(exc, MigrationHarnessError)
    )
    assert not strays, f"not derived from MigrationHarnessError: {strays}"


def test_the_walk_sees_a_class_that_is_not_derived() -> None:
    """The check above can fail: a stray class defined in a walked module is reported."""
    module = types.ModuleType("migration_harness.stray")
    stray = type("StrayError", (ValueError,), {"__module__": module.__name__})
    derived = type(
        "DerivedError", (MigrationHarnessError, ValueError), {"__module__": module.__name__}
    )
    imported = SpecError  # defined elsewhere: not this module's own
    module.__dict__.update(StrayError=stray, DerivedError=derived, SpecError=imported)
    assert set(_exceptions_defined_in(module)) == {stray, derived}
    assert not issubclass(stray, MigrationHarnessError)


def test_the_stdlib_base_still_catches() -> None:
    with pytest.raises(ValueError):
        raise SpecError("spec.toml", "target.name", "a string")
    with pytest.raises(MigrationHarnessError):
        raise SpecError("spec.toml", "target.name", "a string")
