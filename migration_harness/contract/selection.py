"""Which contract ids and which reference-tool mutant a run selects: one rule for the CLI
(``--contract``, ``--mutant``) and the pytest plugin (``--mh-contract-id``, ``--mh-mutant``),
so both accept and refuse the same names in the same words."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from migration_harness.contract import CONTRACT_IDS
from migration_harness.errors import MigrationHarnessError
from migration_harness.reference.mutants import MUTANTS

__all__ = ["SelectionError", "Shard", "parse_shard", "select_contract_ids", "select_mutant"]


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


_T = TypeVar("_T")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based): every count-th case, from the index-th on,
    in report order. The same cases on every machine, and together the shards run each
    case exactly once."""

    index: int
    count: int

    def pick(self, cases: Sequence[_T]) -> list[_T]:
        return [case for n, case in enumerate(cases) if n % self.count == self.index - 1]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


#: More shards than this is surely a typo (a contract has tens of cases, not thousands).
MAX_SHARDS = 256


def parse_shard(text: str, flag: str) -> Shard:
    """``"K/N"`` (1 <= K <= N <= 256) as a :class:`Shard`."""
    index, sep, count = text.partition("/")
    if sep and index.strip().isdigit() and count.strip().isdigit():
        shard = Shard(int(index), int(count))
        if 1 <= shard.index <= shard.count <= MAX_SHARDS:
            return shard
    raise SelectionError(
        f"{flag}: expected K/N with 1 <= K <= N <= {MAX_SHARDS} (e.g. 2/4), got {text!r}"
    )
