"""pytest entry point (``pytest11``): options, markers and the harness fixtures.

The fixtures live in one module per building block, registered together with this
plugin under their module names (so ``-p no:migration_harness.plugin.locking`` still
leaves one out).
"""

from __future__ import annotations

import importlib

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


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    # Registered here rather than listed in ``pytest_plugins``: pytest looks each name
    # in ``pytest_plugins`` up among the entry points of every installed distribution
    # first, which cost every pytest session in the venv about 5 ms per module.
    for name in BUILDING_BLOCKS:
        if not pluginmanager.is_blocked(name) and pluginmanager.get_plugin(name) is None:
            pluginmanager.register(importlib.import_module(name), name)


def pytest_report_header(config: pytest.Config) -> str:
    return f"migration-harness {__version__}"
