"""Put a repo back the way it was, so a backend may run the command more than once."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from migration_harness.files import copy_repo
from migration_harness.scratch import Scratch

#: Puts back the data a repo keeps outside its directory, or None when it keeps none.
RestoreData = Callable[[], object] | None


class RepoBackup:
    """A copy of ``repo`` (a directory, or a single file with its companions) taken on
    enter; ``restore()`` puts it back at the same path.

    Backends that probe (hook, sweep, strace's fallback plans) run the migration
    several times, and each run changes the repo; the caller expects one fresh repo.
    ``restore_data`` puts back what the repo keeps outside its directory (its database
    on a server), called after the files are put back.
    """

    def __init__(self, repo: Path, restore_data: RestoreData = None) -> None:
        self.repo = Path(repo)
        self._restore_data = restore_data
        # The repo's directory as it is now, before the tool runs: a restore never deletes
        # or writes outside it, whatever the tool turns the repo into.
        self._scratch = Scratch(self.repo.parent)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> RepoBackup:
        self._tmp = tempfile.TemporaryDirectory(prefix="mh-crash-backup-")
        if self.repo.exists():
            copy_repo(self.repo, self._copy)
        return self

    @property
    def _copy(self) -> Path:
        assert self._tmp is not None, "RepoBackup used outside its with block"
        return Path(self._tmp.name) / "repo"

    def restore(self) -> None:
        """Replace the repo by the copy taken on enter (or remove it if it did not exist)."""
        if self._copy.exists():
            self._scratch.copy_tree(self._copy, self.repo, "restore the repo at")
        else:
            self._scratch.remove_repo(self.repo, "remove the repo at")
        if self._restore_data is not None:
            self._restore_data()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
