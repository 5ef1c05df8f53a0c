"""The guardian: sweeps a dead interpreter's processes.

Started by :func:`migration_harness.proc._track.enable_guardian` as
``python -m migration_harness.proc._guardian <parent-pid> <registry-file> <run-token>``. It blocks
reading its stdin, a pipe whose only write end the parent holds. When the
parent ends in any way (normal exit, ``os._exit`` from pytest-timeout, SIGKILL,
a crash) the read returns end-of-file, and the guardian kills every process
listed in the registry that is still running and every process carrying the
run's marker (a detached descendant), then deletes the file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

import psutil

from migration_harness.proc import _track

#: How long to wait for a dead parent's handle to the registry file to close (Windows).
REMOVE_WAIT_S = 2.0
REMOVE_RETRY_S = 0.05


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(
            "usage: python -m migration_harness.proc._guardian PARENT_PID REGISTRY_FILE RUN_TOKEN",
            file=sys.stderr,
        )
        return 2
    registry, token = argv[1], argv[2]
    # A terminal's Ctrl-C reaches the whole foreground group: the guardian must
    # survive it to clean up after the interrupted session.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        while sys.stdin.buffer.read(4096):
            pass
    with contextlib.suppress(OSError):
        _track.sweep(_track.read_registry(registry))
    with contextlib.suppress(OSError, psutil.Error):
        _track.sweep_marked(token)
    _remove(registry)
    return 0


def _remove(registry: str) -> None:
    """Delete the registry; on Windows, after a parent killed hard, its handle to the file
    may close only after the pipe did: wait for it a little."""
    deadline = time.monotonic() + REMOVE_WAIT_S
    while True:
        try:
            os.remove(registry)
            return
        except PermissionError:
            if time.monotonic() >= deadline:
                return
            time.sleep(REMOVE_RETRY_S)
        except OSError:
            return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
