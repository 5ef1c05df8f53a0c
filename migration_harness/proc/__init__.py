"""Processes and daemons: run with captured output, daemons with readiness and a
graceful stop on every OS, N commands released through one barrier, and no
process left behind.

Every process started here gets its own process group (a new session on POSIX,
``CREATE_NEW_PROCESS_GROUP`` on Windows, where a daemon gets a console of its own
instead), the run's marker in its environment
and (on Windows) a place in a kill-on-close Job Object, and is tracked by pid
and creation time; :func:`kill_tree` and the pytest plugin's sweeps kill it
with everything it started, however that detached.
"""

from __future__ import annotations

from migration_harness.proc._barrier import BarrierError, start_together
from migration_harness.proc._daemon import Daemon, DaemonStartError
from migration_harness.proc._output import Capture
from migration_harness.proc._ready import Readiness, ReadyFile, ReadyLine, ReadyPort, ReadyWhen
from migration_harness.proc._run import RunResult, Started, popen, run, start_captured
from migration_harness.proc._stop import (
    DEFAULT_GRACE,
    GRACE_SHARES,
    KILL_TIMEOUT,
    StopReport,
    stop_process,
    stoppable_popen_kwargs,
)
from migration_harness.proc._track import Leftover, kill_tree, stop_left_running
from migration_harness.proc._which import DEFAULT_PATHEXT, ExecutableNotFound, which

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_PATHEXT",
    "GRACE_SHARES",
    "KILL_TIMEOUT",
    "BarrierError",
    "Capture",
    "Daemon",
    "DaemonStartError",
    "ExecutableNotFound",
    "Leftover",
    "Readiness",
    "ReadyFile",
    "ReadyLine",
    "ReadyPort",
    "ReadyWhen",
    "RunResult",
    "Started",
    "StopReport",
    "kill_tree",
    "popen",
    "run",
    "start_captured",
    "start_together",
    "stop_left_running",
    "stop_process",
    "stoppable_popen_kwargs",
    "which",
]
