"""Which contract ids and which reference-tool mutant a run selects: one rule for the CLI
(``--contract``, ``--mutant``) and the pytest plugin (``--mh-contract-id``, ``--mh-mutant``),
so both accept and refuse the same names in the same words."""

from __future__ import annotations

from collections.abc import Iterable

from migration_harness.contract import CONTRACT_IDS
from migration_harness.errors import MigrationHarnessError
from migration_harness.reference.mutants import MUTANTS

__all__ = ["SelectionError", "select_contract_ids", "select_mutant"]


class SelectionError(MigrationHarnessError, ValueError):
    """A name that is not a contract id or a mutant; the message names the flag."""


def select_contract_ids(given: Iterable[str], flag: str) -> list[str]:
    """The ids ``given`` under ``flag``, in report order (every id when none is given)."""
    wanted = list(given)
    for cid in wanted:
        if cid not in CONTRACT_IDS:
            raise SelectionError(
                f"{flag}: unknown contract id {cid!r}; expected one of {', '.join(CONTRACT_IDS)}"
            )
    return [cid for cid in CONTRACT_IDS if cid in wanted or not wanted]


def select_mutant(name: str, flag: str) -> str:
    """``name`` when it is a mutant of the reference tool."""
    if name not in MUTANTS:
        raise SelectionError(
            f"{flag}: unknown mutant {name!r}; expected one of {', '.join(MUTANTS)}"
            " (`migration-harness check --list-mutants` says what each breaks)"
        )
    return name
