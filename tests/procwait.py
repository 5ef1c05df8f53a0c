"""Waiting on real processes in tests: a pid a child writes, a pid that must go away.

Bounds are generous on purpose: they only decide how long a broken test takes to
fail, never whether a slow machine passes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

POLL_S = 0.02


def read_pid(path: Path, bound: float = 120.0) -> int:
    """The pid a child wrote to ``path`` as one line (waiting for it, within ``bound`` s)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.strip().isdigit() and text.endswith("\n"):
            return int(text)
        time.sleep(POLL_S)
    raise AssertionError(f"no pid written to {path} within {bound} s")


def gone(pid: int, bound: float = 60.0) -> bool:
    """True once ``pid`` no longer runs (or is a zombie), polling up to ``bound`` s."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(POLL_S)
    return False


def guardians_finished(bound: float = 120.0) -> bool:
    """True once no guardian of an inner session that died runs any more.

    Such a guardian outlives its session on purpose (it sweeps after it) and, as
    this session is a subreaper, it is re-parented to us until it is done.
    """
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if not any(_is_guardian(p) for p in psutil.Process().children(recursive=True)):
            return True
        time.sleep(POLL_S)
    return False


def _is_guardian(proc: psutil.Process) -> bool:
    """A guardian of another session than ours (ours runs until we exit)."""
    try:
        argv = proc.cmdline()
    except psutil.Error:
        return False
    if "migration_harness.proc._guardian" not in argv:
        return False
    parent = argv[argv.index("migration_harness.proc._guardian") + 1 :][:1]
    return parent != [str(os.getpid())]
