"""The migration safety contract: pytest items generated from a target.

Each item is named ``contract::<id>[<case>]``; ``docs/contract.md``
says what each id promises.
"""

from __future__ import annotations

from migration_harness.contract._failure import ContractFailure, ContractSkip, has_stack_trace
from migration_harness.contract._registry import REGISTRY, Case, ContractItem, Options
from migration_harness.contract.checks import basic, crash, external, locking, state

# The order of the report and of the table in docs/contract.md (a test keeps them equal).
CONTRACT_IDS = (
    "forward",
    "idempotent",
    "revert",
    "lock-held",
    "stale-lock",
    "concurrent",
    "crash",
    "ahead",
    "backups",
    "no-litter",
    "hostile-paths",
    "external",
    "daemon",
    "tombstone",
)

del basic, crash, external, locking, state  # imported for their registrations
assert set(CONTRACT_IDS) == set(REGISTRY), "every contract id is registered exactly once"

__all__ = [
    "CONTRACT_IDS",
    "REGISTRY",
    "Case",
    "ContractFailure",
    "ContractItem",
    "ContractSkip",
    "Options",
    "has_stack_trace",
]
