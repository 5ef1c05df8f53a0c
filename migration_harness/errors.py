"""The one base class of every exception migration-harness raises.

``except MigrationHarnessError`` catches whatever the package raises on purpose
(a bad spec, a busy lock, a daemon that did not start, a crash point the tool
never reached, ...), so a caller needs one ``except`` to tell the harness's own
errors from bugs. Each exception keeps its standard-library base as a mixin
(``class SpecError(MigrationHarnessError, ValueError)``), so an existing
``except ValueError`` or ``except FileNotFoundError`` still catches it.

This module imports nothing: every module of the package may import it, and
``import migration_harness`` stays as light as it was.
"""

from __future__ import annotations


class MigrationHarnessError(Exception):
    """Base of every exception the migration_harness package defines."""
