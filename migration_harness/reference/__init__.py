"""The reference migration tool (``refrepo``): a small repo migrator that does everything right.

Run it as ``python -m migration_harness.reference``. It is the default target of
``migration-harness check``, the model downstream authors copy (its target spec
is ``migration-harness.toml`` next to this file), and, with ``REFREPO_MUTANT``
set, the proof that every contract item can fail (see ``mutants``).
"""

from __future__ import annotations

from pathlib import Path

from migration_harness.reference.layout import LATEST, OLDEST
from migration_harness.reference.mutants import CATCHERS, MUTANT_ENV, MUTANTS

#: The reference tool's own target spec (also the template users copy).
SPEC_PATH = Path(__file__).with_name("migration-harness.toml")

__all__ = ["CATCHERS", "LATEST", "MUTANTS", "MUTANT_ENV", "OLDEST", "SPEC_PATH"]
