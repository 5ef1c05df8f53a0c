"""An exclusive OS lock on an open file: ``flock`` on POSIX, byte 0 locked on Windows.

The same locks the filelock library takes (its ``FileLock``), taken with the OS calls
directly: importing filelock 4.x (logging, inspect, typing, secrets and more) cost five
times a bare interpreter's start-up, in every lock-taking command, and a contract run
starts hundreds of them. The OS drops either lock when its holder dies, so a stale lock
never blocks anyone; the file itself stays.
"""

from __future__ import annotations

import os
import sys

if sys.platform == "win32":
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Lock byte 0 of ``fd`` (opened at offset 0) without waiting; False if held."""
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """``flock`` ``fd`` exclusively without waiting; False if another holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def open_lock_file(path: str | os.PathLike[str]) -> int:
    """The lock file opened for locking (created if missing)."""
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
