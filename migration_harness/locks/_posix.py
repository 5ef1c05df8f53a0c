"""POSIX lock calls: ``fcntl`` record locks (``posix``) and BSD ``flock``.

The two do not interoperate on Linux: a process holding an ``fcntl`` lock
does not block another taking ``flock`` on the same file, and vice versa.
A holder must use the tool's own mechanism.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
from pathlib import Path

from migration_harness.locks._base import LockBusy, NothingToRefresh

assert sys.platform != "win32"  # for mypy: the rest is POSIX-only

# The errnos a non-blocking attempt reports when the lock is taken elsewhere.
_BUSY = {errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK}


def _open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


class FcntlLock(NothingToRefresh):
    """``F_SETLK`` write lock on the whole file (start 0, length 0 = to EOF and beyond),
    what go4.org/lock takes (Go's lockedfile takes ``flock``, see the style table)."""

    def __init__(self, path: Path) -> None:
        self._fd = _open_lock_file(path)
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0, os.SEEK_SET)
        except OSError as exc:
            os.close(self._fd)
            if exc.errno in _BUSY:
                raise LockBusy(f"fcntl lock on {path} is held by another process") from exc
            raise

    def release(self) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 0, 0, os.SEEK_SET)
        os.close(self._fd)


class Flock(NothingToRefresh):
    """``flock(LOCK_EX)`` on the file, what Python's filelock and many C tools take."""

    def __init__(self, path: Path) -> None:
        self._fd = _open_lock_file(path)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            if exc.errno in _BUSY:
                raise LockBusy(f"flock on {path} is held by another process") from exc
            raise

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
