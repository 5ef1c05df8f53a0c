"""Start a process, riding out Wine's sporadic CreateProcess failure.

Under Wine, CreateProcess now and then fails with ERROR_INTERNAL_ERROR (WinError
1359, "Internal error") while many processes come and go (seen in the Windows
leg's contract run, hundreds of spawns in). The same call succeeds a moment
later and Windows itself does not fail this way, so a spawn retries that one
error a few times; any other error is raised at once. subprocess has no retry
of its own, hence this module.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

ERROR_INTERNAL_ERROR = 1359
SPAWN_ATTEMPTS = 4
SPAWN_RETRY_DELAY = 0.2
"""Seconds before the second attempt; doubled before each further one."""

Starter = Callable[..., "subprocess.Popen[Any]"]


def spawn(args: str | Sequence[str], *, start: Starter = subprocess.Popen, **kwargs: Any) -> Any:
    """``start(args, **kwargs)`` (``subprocess.Popen`` by default), retried on WinError 1359."""
    command = args if isinstance(args, str) else list(args)
    delay = SPAWN_RETRY_DELAY
    for attempt in range(1, SPAWN_ATTEMPTS + 1):
        try:
            return start(command, **kwargs)
        except OSError as exc:
            if not is_transient_spawn_error(exc) or attempt == SPAWN_ATTEMPTS:
                raise
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable: the last attempt returns or raises")


def is_transient_spawn_error(exc: OSError) -> bool:
    """True for the CreateProcess failure that a retry gets past."""
    return getattr(exc, "winerror", None) == ERROR_INTERNAL_ERROR
