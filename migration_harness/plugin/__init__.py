"""pytest entry point (``pytest11``): options, markers and the harness fixtures.

The fixtures live in one module per building block, registered together with this
plugin under their module names (so ``-p no:migration_harness.plugin.locking`` still
leaves one out).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

import pytest

from migration_harness import __version__

BUILDING_BLOCKS = (
    "migration_harness.plugin.options",
    "migration_harness.plugin.contract",
    "migration_harness.plugin.databases",
    "migration_harness.plugin.isolation",
    "migration_harness.plugin.locking",
    "migration_harness.plugin.processes",
)
#: What the building blocks import when they load, loaded the same way before them.
BLOCKS_IMPORT = ("migration_harness.proc", "migration_harness.proc._marker")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    # Registered here rather than listed in ``pytest_plugins``: pytest looks each name
    # in ``pytest_plugins`` up among the entry points of every installed distribution
    # first, which cost every pytest session in the venv about 5 ms per module.
    for name in BLOCKS_IMPORT:
        import_plainly(name)
    for name in BUILDING_BLOCKS:
        if not pluginmanager.is_blocked(name) and pluginmanager.get_plugin(name) is None:
            pluginmanager.register(import_plainly(name), name)


def import_plainly(name: str) -> ModuleType:
    """Import the module ``name`` with Python's own loader, not pytest's rewriting hook.

    pytest rewrites the asserts of every module in a plugin's distribution, and its
    hook's bookkeeping (path matching, its own cache of rewritten byte code) costs
    about as much as the rest of the plugin's start-up together, in every pytest
    session of a virtualenv that has migration-harness installed. The modules loaded
    here have no ``assert`` statement to rewrite (a test keeps it so); the modules they
    import later, at a test's setup, still load through the hook as usual.
    """
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    parent_name, _, child = name.rpartition(".")
    parent = import_plainly(parent_name)
    spec = importlib.machinery.PathFinder.find_spec(name, parent.__path__)
    if spec is None or spec.loader is None:
        return importlib.import_module(name)  # not a plain file: let the import system decide
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    setattr(parent, child, module)
    return module


def pytest_report_header(config: pytest.Config) -> str:
    return f"migration-harness {__version__}"
