"""``subprocess.run`` and ``subprocess.Popen`` for the tests' own processes.

The same calls, retried on Wine's sporadic CreateProcess failure (WinError 1359) the
way the package's own spawns are (``migration_harness.proc._spawn``): in the Windows
leg one spawn in many thousands fails that way, and a test must not fail by chance.
On every other platform it is a plain call.
"""

from __future__ import annotations

import subprocess
from typing import Any

from migration_harness.proc._spawn import spawn


def run(args: Any, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(args, **kwargs)``, retried on WinError 1359."""
    result: subprocess.CompletedProcess[Any] = spawn(args, start=subprocess.run, **kwargs)
    return result


def Popen(args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **kwargs)``, retried on WinError 1359."""
    process: subprocess.Popen[Any] = spawn(args, start=subprocess.Popen, **kwargs)
    return process
