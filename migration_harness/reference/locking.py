"""The repo lock: one OS lock on ``REPO/repo.lock``, taken once per process for the whole chain.

The lock is the one filelock's ``FileLock`` takes (flock on POSIX, byte 0 locked on
Windows; see :mod:`.oslock`), so the OS drops it when the holder dies and a stale lock
never blocks anyone. Under contention the tool waits up to ``REFREPO_LOCK_WAIT_S``
seconds (default 10), retrying with a small exponential backoff (10 ms doubling to
20 ms): a try is an open and a non-blocking lock, cheap enough to repeat, and a longer
sleep leaves the lock free while waiters sleep (a 100 ms migration handed the lock on
after gaps of up to 160 ms with a 250 ms cap).

The mutants ``no-lock``, ``double-lock``, ``file-exists-lock`` and
``give-up-early`` live here too.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Mapping
from types import TracebackType

from migration_harness.reference import oslock
from migration_harness.reference.errors import RefError

# typing.TYPE_CHECKING without importing typing: every command reads its lock wait from
# here first (see cli), `version` included, and should not pay for typing or for layout.
# Type checkers take any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from migration_harness.reference.layout import Repo

WAIT_ENV = "REFREPO_LOCK_WAIT_S"
DEFAULT_WAIT_S = 10.0
_FIRST_BACKOFF_S = 0.01
_MAX_BACKOFF_S = 0.02
_GIVE_UP_EARLY_BACKOFF_S = (0.01, 0.02, 0.04)


def lock_wait_from_env(environ: Mapping[str, str]) -> float:
    text = environ.get(WAIT_ENV, "").strip()
    if not text:
        return DEFAULT_WAIT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise RefError(f"environment variable {WAIT_ENV}={text!r}: expected seconds >= 0")
    return value


def _held_message(repo: Repo, waited: float) -> str:
    return f"repo is locked: {repo.lock_file} is held by another process; waited {waited:g}s"


class RepoLock:
    """Context manager holding the repo lock (or, for a mutant, failing to hold it properly)."""

    def __init__(self, repo: Repo, *, wait_s: float, mutant: str | None = None) -> None:
        self.repo = repo
        self.wait_s = wait_s
        self.mutant = mutant
        self._held_fd: int | None = None
        self._exclusive_fd: int | None = None

    def __enter__(self) -> RepoLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> None:
        if self.mutant == "no-lock":
            return
        if self.mutant == "file-exists-lock":
            self._acquire_by_existence()
            return
        if self.mutant == "give-up-early":
            self._acquire_give_up_early()
        else:
            self._acquire_with_backoff()
        if self.mutant == "double-lock":
            self._acquire_again()

    def release(self) -> None:
        if self._exclusive_fd is not None:
            os.close(self._exclusive_fd)
            self._exclusive_fd = None
            with contextlib.suppress(OSError):
                self.repo.lock_file.unlink()
        if self._held_fd is not None:
            oslock.unlock(self._held_fd)
            os.close(self._held_fd)
            self._held_fd = None

    def _try_once(self) -> bool:
        fd = oslock.open_lock_file(self.repo.lock_file)
        if not oslock.try_lock(fd):
            os.close(fd)
            return False
        self._held_fd = fd
        return True

    def _acquire_with_backoff(self) -> None:
        start = time.monotonic()
        deadline = start + self.wait_s
        delay = _FIRST_BACKOFF_S
        while not self._try_once():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RefError(_held_message(self.repo, self.wait_s))
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_BACKOFF_S)

    def _acquire_give_up_early(self) -> None:
        # Mutant give-up-early: the starpunk race fix's first try, a few retries then failure.
        for delay in (*_GIVE_UP_EARLY_BACKOFF_S, None):
            if self._try_once():
                return
            if delay is not None:
                time.sleep(delay)
        raise RefError(_held_message(self.repo, sum(_GIVE_UP_EARLY_BACKOFF_S)))

    def _acquire_again(self) -> None:
        # Mutant double-lock: the file locked again through a second descriptor, which
        # the OS treats as another holder.
        second = oslock.open_lock_file(self.repo.lock_file)
        try:
            if not oslock.try_lock(second):
                raise RefError(f"lock is already held: {self.repo.lock_file}")
            oslock.unlock(second)
        finally:
            os.close(second)

    def _acquire_by_existence(self) -> None:
        # Mutant file-exists-lock: the lock is the file's existence, which outlives a killed holder.
        deadline = time.monotonic() + self.wait_s
        delay = _FIRST_BACKOFF_S
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY
        while True:
            try:
                self._exclusive_fd = os.open(self.repo.lock_file, flags)
                return
            except FileExistsError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RefError(_held_message(self.repo, self.wait_s))
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_BACKOFF_S)
