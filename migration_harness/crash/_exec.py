"""Run a command whose whole process tree may be killed at a chosen moment.

migration_harness.proc.run covers ordinary runs; crash backends need more: a watcher
that decides *while the command runs* that the crash moment has come. The process is
started, read and killed by :mod:`migration_harness.proc` (tracked, so the sweeps see
it and what it starts; killed with its whole group at once, so a parent cannot react
to its child's death and tidy up before it dies too); this module only watches.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from migration_harness.proc import RunResult, kill_tree, start_captured
from migration_harness.proc._track import kill_leftovers

POLL_INTERVAL = 0.01

# Called every POLL_INTERVAL with the running process and the seconds since start;
# returns True when the tree must be killed now.
Watcher = Callable[["subprocess.Popen[bytes]", float], bool]


@dataclass
class CrashRun:
    """What happened to one run: its ``result`` and whether the tree was killed."""

    result: RunResult
    killed: bool
    timed_out: bool


def run_watched(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
    timeout: float | None,
    watcher: Watcher | None = None,
    poll: float = POLL_INTERVAL,
) -> CrashRun:
    """Run ``args``; kill the whole tree when ``watcher`` says so or ``timeout`` passes.

    ``watcher`` is asked every ``poll`` seconds (plus the watcher's own time). What
    the command leaves running when it ends is killed too (and listed in
    ``result.left_running``): it must not touch the repository after the run."""
    started = start_captured(args, env=env, cwd=cwd)
    proc = started.proc
    killed = timed_out = False
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - started.at
            killed = watcher is not None and watcher(proc, elapsed)
            timed_out = not killed and timeout is not None and elapsed > timeout
            if killed or timed_out:
                break
            time.sleep(poll)
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
        proc.wait()
    result = started.result(timed_out=timed_out, timeout=timeout)
    kill_leftovers(result.left_running)
    return CrashRun(result=result, killed=killed, timed_out=timed_out)
