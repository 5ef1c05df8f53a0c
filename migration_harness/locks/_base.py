"""What every lock mechanism in the holder process provides."""

from __future__ import annotations

from typing import Protocol

from migration_harness.errors import MigrationHarnessError


class LockBusy(MigrationHarnessError):
    """Someone else holds the lock right now (the non-blocking attempt failed)."""


class Held(Protocol):
    """A lock this process holds."""

    def refresh(self) -> None:
        """Keep the lock fresh while held (only mkdir locks have anything to do)."""

    def release(self) -> None:
        """Give the lock back the way its style does (unlock, remove dir/file, rollback)."""


class NothingToRefresh:
    """Mixin for styles whose lock needs no keep-alive."""

    def refresh(self) -> None:
        return None
