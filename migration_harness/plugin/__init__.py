"""pytest entry point (``pytest11``): options, markers and the harness fixtures.

The fixtures live in one module per building block, listed in
``pytest_plugins`` so that pytest registers them together with this plugin.
"""

from __future__ import annotations

import pytest

from migration_harness import __version__

pytest_plugins: list[str] = [
    "migration_harness.plugin.options",
    "migration_harness.plugin.contract",
    "migration_harness.plugin.databases",
    "migration_harness.plugin.isolation",
    "migration_harness.plugin.locking",
    "migration_harness.plugin.processes",
]


def pytest_report_header(config: pytest.Config) -> str:
    return f"migration-harness {__version__}"
