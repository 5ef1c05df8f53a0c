"""The reference tool, with its lock timed: run as a script, arguments as for
``migration_harness.reference``.

Not a mutant and no change to the tool: it wraps ``RepoLock.acquire``/``release``
from outside and, at exit, prints one line to stderr::

    lockclock try=<t> held=<t> free=<t>

(wall-clock seconds; ``held``/``free`` are absent when the lock was never held).
The concurrency benchmark needs each process's critical section, and the tool
does not log it.
"""

from __future__ import annotations

import sys
import time

from migration_harness.reference import locking
from migration_harness.reference.cli import main

_clock: dict[str, float] = {}
_acquire = locking.RepoLock.acquire
_release = locking.RepoLock.release


def _timed_acquire(self: locking.RepoLock) -> None:
    _clock.setdefault("try", time.time())
    _acquire(self)
    _clock.setdefault("held", time.time())


def _timed_release(self: locking.RepoLock) -> None:
    if "held" in _clock:
        _clock.setdefault("free", time.time())
    _release(self)


def run(argv: list[str]) -> int:
    locking.RepoLock.acquire = _timed_acquire  # type: ignore[method-assign]
    locking.RepoLock.release = _timed_release  # type: ignore[method-assign]
    try:
        return main(argv)
    finally:
        fields = " ".join(f"{key}={value!r}" for key, value in _clock.items())
        print(f"lockclock {fields}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
