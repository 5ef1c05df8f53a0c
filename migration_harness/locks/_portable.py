"""Lock styles that work the same on every OS: mkdir, pidfile, sqlite, filelock."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import filelock

from migration_harness.locks._base import LockBusy, NothingToRefresh


class MkdirLock:
    """The lock is the directory itself (proper-lockfile, used by js-ipfs): ``mkdir`` is
    atomic everywhere; its mtime is refreshed while held so others can tell it is live."""

    def __init__(self, path: Path) -> None:
        try:
            path.mkdir()
        except FileExistsError as exc:
            raise LockBusy(f"lock directory {path} already exists") from exc
        self._path = path

    def refresh(self) -> None:
        os.utime(self._path)

    def release(self) -> None:
        self._path.rmdir()


class PidFileLock(NothingToRefresh):
    """``O_CREAT | O_EXCL`` file holding the owner's pid (a "lock by existence")."""

    def __init__(self, path: Path) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError as exc:
            raise LockBusy(f"pid file {path} already exists") from exc
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        self._path = path

    def release(self) -> None:
        self._path.unlink()


class SqliteLock(NothingToRefresh):
    """``BEGIN IMMEDIATE`` on the database file, kept open: every other writer gets
    SQLITE_BUSY ("database is locked"); readers still read."""

    def __init__(self, path: Path) -> None:
        # timeout=0: fail at once instead of sqlite's own busy wait; autocommit
        # mode so the BEGIN below is ours, not the module's implicit one.
        self._db = sqlite3.connect(str(path), timeout=0, isolation_level=None)
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise LockBusy(f"database {path} is locked by another connection") from exc
            raise

    def release(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.execute("ROLLBACK")
        self._db.close()


class FileLockLibrary(NothingToRefresh):
    """Whatever the ``filelock`` library does on this OS (flock on POSIX, msvcrt on Windows)."""

    def __init__(self, path: Path) -> None:
        self._lock = filelock.FileLock(str(path), timeout=0)
        try:
            self._lock.acquire()
        except filelock.Timeout as exc:
            raise LockBusy(f"filelock on {path} is held by another process") from exc

    def release(self) -> None:
        self._lock.release()
