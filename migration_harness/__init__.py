"""migration-harness: test on-disk data migrations the way they really fail.

``MigrationHarnessError`` is the base of every exception the package raises.
"""

from migration_harness.errors import MigrationHarnessError

__version__ = "0.1.0"

__all__ = ["MigrationHarnessError", "__version__"]
