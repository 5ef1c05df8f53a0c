"""Repo states a case has already checked, so that the same bytes are read only once."""

from __future__ import annotations

import threading
from pathlib import Path


class CheckedStates:
    """The repo states (by :func:`~migration_harness.files.tree_fingerprint`) that already
    passed a check in this case, shared by its lanes.

    Many crash points leave the same bytes behind, nearly every re-run ends in the same
    repo, and a step that rolls back an injected failure leaves the repo as it found it:
    the tool's read commands would answer the same for the same bytes (the contract asks
    ``dump`` to be a function of the data), so a state is read once per check. A repo
    whose data lives on a database server is always read: its files are not all of it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._versions: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.reused = 0

    def fingerprint(self, repo: Path) -> str | None:
        from migration_harness.files import tree_fingerprint

        return tree_fingerprint(repo) if self.enabled else None

    def version(self, check: str, state: str | None) -> int | None:
        """The version ``state`` was read at when it passed ``check`` (counted), or None."""
        with self._lock:
            version = None if state is None else self._versions.get((check, state))
            self.reused += version is not None
            return version

    def passed(self, check: str, state: str | None, version: int) -> None:
        if state is not None:
            with self._lock:
                self._versions[(check, state)] = version
