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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migration_harness.proc._barrier import BarrierError, start_together
    from migration_harness.proc._daemon import Daemon, DaemonStartError
    from migration_harness.proc._output import Capture
    from migration_harness.proc._ready import (
        Readiness,
        ReadyFile,
        ReadyLine,
        ReadyPort,
        ReadyWhen,
    )
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

# Each public name and the module that defines it, imported on first use: the pytest
# plugin loads in every session of an environment that has the package, and needs only
# the tracking module at start (the barrier alone pulls in sockets and selectors).
_HOME = {
    "BarrierError": "_barrier",
    "start_together": "_barrier",
    "Daemon": "_daemon",
    "DaemonStartError": "_daemon",
    "Capture": "_output",
    "Readiness": "_ready",
    "ReadyFile": "_ready",
    "ReadyLine": "_ready",
    "ReadyPort": "_ready",
    "ReadyWhen": "_ready",
    "RunResult": "_run",
    "Started": "_run",
    "popen": "_run",
    "run": "_run",
    "start_captured": "_run",
    "DEFAULT_GRACE": "_stop",
    "GRACE_SHARES": "_stop",
    "KILL_TIMEOUT": "_stop",
    "StopReport": "_stop",
    "stop_process": "_stop",
    "stoppable_popen_kwargs": "_stop",
    "Leftover": "_track",
    "kill_tree": "_track",
    "stop_left_running": "_track",
    "DEFAULT_PATHEXT": "_which",
    "ExecutableNotFound": "_which",
    "which": "_which",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


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
