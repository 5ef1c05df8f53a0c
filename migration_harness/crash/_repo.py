"""Put a repo back the way it was, so a backend may run the command more than once."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType


class RepoBackup:
    """A copy of ``repo`` taken on enter; ``restore()`` puts it back at the same path.

    Backends that probe (hook, sweep, strace's fallback plans) run the migration
    several times, and each run changes the repo; the caller expects one fresh repo.
    """

    def __init__(self, repo: Path) -> None:
        self.repo = Path(repo)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> RepoBackup:
        self._tmp = tempfile.TemporaryDirectory(prefix="mh-crash-backup-")
        if self.repo.exists():
            shutil.copytree(self.repo, self._copy, symlinks=True)
        return self

    @property
    def _copy(self) -> Path:
        assert self._tmp is not None, "RepoBackup used outside its with block"
        return Path(self._tmp.name) / "repo"

    def restore(self) -> None:
        """Replace the repo by the copy taken on enter (or remove it if it did not exist)."""
        if self.repo.is_symlink() or self.repo.is_file():
            self.repo.unlink()
        elif self.repo.exists():
            shutil.rmtree(self.repo)
        if self._copy.exists():
            shutil.copytree(self._copy, self.repo, symlinks=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
