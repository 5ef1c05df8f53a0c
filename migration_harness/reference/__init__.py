"""The reference migration tool (``refrepo``): a small repo migrator that does everything right.

Run it as ``python -m migration_harness.reference``. It is the default target of
``migration-harness check``, the model downstream authors copy (its target spec
is ``migration-harness.toml`` next to this file), and, with ``REFREPO_MUTANT``
set, the proof that every contract item can fail (see ``mutants``).
"""

from __future__ import annotations

from migration_harness.reference.mutants import CATCHERS, MUTANT_ENV, MUTANTS
from migration_harness.reference.versions import LATEST, OLDEST

# typing.TYPE_CHECKING without importing typing; type checkers take any name
# TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CATCHERS", "LATEST", "MUTANTS", "MUTANT_ENV", "OLDEST", "SPEC_PATH"]


def __getattr__(name: str) -> Path:
    # SPEC_PATH, the reference tool's own target spec (also the template users copy), is
    # made on first use: every run of the tool imports this package first, and pathlib
    # costs more to import than all of `version`.
    if name == "SPEC_PATH":
        from pathlib import Path

        return Path(__file__).with_name("migration-harness.toml")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
