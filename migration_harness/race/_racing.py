"""The racing of one ``concurrent`` case: plain, or each racer behind a prefix."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from migration_harness.errors import MigrationHarnessError


class DelaysUnavailable(MigrationHarnessError, RuntimeError):
    """Strace delays cannot be used for this race; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"strace delays are unavailable: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Racing:
    """How each racer is run: its own command behind ``prefix`` (empty: as it is)."""

    name: str
    """How reports name it: ``"plain"`` or ``"strace delays"``."""
    prefix: tuple[str, ...] = ()
    why_plain: str | None = None
    """Why the race is plain although delays were wanted (strace missing, ...)."""

    def wrap(self, args: Sequence[str]) -> list[str]:
        return [*self.prefix, *args]

    def because(self, why: str) -> Racing:
        return dataclasses.replace(self, why_plain=why)

    def describe(self) -> str:
        return self.name if self.why_plain is None else f"{self.name}: {self.why_plain}"


PLAIN = Racing("plain")
