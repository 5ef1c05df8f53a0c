"""The reference tool's error types: every user-facing failure is one of these."""

from __future__ import annotations


class RefError(Exception):
    """A failure reported to the user as one ``error: ...`` line, exit status 1."""


class InjectedFailure(RefError):
    """Raised at the checkpoint named by ``MIGRATION_HARNESS_FAIL_AT``."""

    def __init__(self, index: int, what: str) -> None:
        super().__init__(f"injected failure at checkpoint {index} ({what})")
        self.index = index
