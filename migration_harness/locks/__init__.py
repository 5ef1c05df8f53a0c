"""Foreign lock holders in every style, stale locks, and lock-behaviour assertions.

A tool's lock can only be tested by a holder using the same mechanism: on
Linux an ``fcntl`` lock does not block ``flock``, and neither blocks a tool
that locks by creating a file. :func:`hold_lock` runs a separate process that
takes the lock in the named style; ``release()`` gives it back, ``crash()``
kills the holder hard to leave a stale lock.
"""

from __future__ import annotations

from migration_harness.locks._api import LockHolder, LockHolderError, hold_lock, probe_lock
from migration_harness.locks._assertions import (
    BlockedRun,
    assert_blocks_until_released,
    assert_fails_fast,
)
from migration_harness.locks._styles import STYLES, UnsupportedLockStyle, unsupported_reason

# Kept here too: they were first published from this module.
from migration_harness.refusals import TRACEBACK_PATTERNS, ResultLike, find_traceback

__all__ = [
    "STYLES",
    "TRACEBACK_PATTERNS",
    "BlockedRun",
    "LockHolder",
    "LockHolderError",
    "ResultLike",
    "UnsupportedLockStyle",
    "assert_blocks_until_released",
    "assert_fails_fast",
    "find_traceback",
    "hold_lock",
    "probe_lock",
    "unsupported_reason",
]
