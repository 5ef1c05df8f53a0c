"""The hook backend: tools that opt in exit hard at their n-th checkpoint.

Protocol: the tool counts its checkpoints from 1; when the count equals
$MIGRATION_HARNESS_CRASH_AT it exits at once with status 86 (os._exit(86) in
Python, os.Exit(86) in Go), running no cleanup. Works on every OS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from migration_harness.crash._exec import run_watched
from migration_harness.crash._points import (
    DEFAULT_MAX_POINTS,
    CrashPoint,
    PointList,
    bounded_points,
)
from migration_harness.crash._repo import RepoBackup, RestoreData
from migration_harness.errors import MigrationHarnessError
from migration_harness.proc import RunResult

HOOK_ENV = "MIGRATION_HARNESS_CRASH_AT"
HOOK_EXIT_CODE = 86
FAIL_ENV = "MIGRATION_HARNESS_FAIL_AT"

# A tool that exits 86 at every n has no last checkpoint; stop probing somewhere.
MAX_CHECKPOINTS = 1000


class HookNotHonoured(MigrationHarnessError, RuntimeError):
    """The command did not exit with HOOK_EXIT_CODE at a checkpoint it reported before."""


class HookBackend:
    """Crash points 1..N, N found by probing n = 1, 2, ... until a run does not exit 86."""

    name = "hook"

    def __init__(self, *, max_points: int = DEFAULT_MAX_POINTS) -> None:
        self.max_points = max_points

    def unavailable_reason(self) -> str | None:
        return None

    def enumerate(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        repo: Path,
        timeout: float | None = 120.0,
        restore_data: RestoreData = None,
    ) -> PointList:
        """Probe the checkpoints; the repo is put back as it was after each probe."""
        points: list[CrashPoint] = []
        with RepoBackup(repo, restore_data) as backup:
            for number in range(1, MAX_CHECKPOINTS + 1):
                result = self._run(number, args, env=env, cwd=cwd, timeout=timeout)
                backup.restore()
                if result.timed_out:
                    raise TimeoutError(
                        f"probing checkpoint {number} timed out:\n{result.describe()}"
                    )
                if result.returncode != HOOK_EXIT_CODE:
                    break
                points.append(_point(number))
            else:
                raise HookNotHonoured(
                    f"{' '.join(args)} exited {HOOK_EXIT_CODE} for every {HOOK_ENV} up to "
                    f"{MAX_CHECKPOINTS}; does it count its checkpoints from 1?"
                )
        return bounded_points(points, self.max_points, self.name)

    def crash_at(
        self,
        point: CrashPoint,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        repo: Path,
        timeout: float | None = 120.0,
        restore_data: RestoreData = None,
    ) -> RunResult:
        """Run with $MIGRATION_HARNESS_CRASH_AT set to the point's checkpoint."""
        return self._run(point.nth, args, env=env, cwd=cwd, timeout=timeout)

    @staticmethod
    def _run(
        number: int,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        cwd: str | os.PathLike[str] | None,
        timeout: float | None,
    ) -> RunResult:
        run_env = dict(os.environ if env is None else env)
        run_env[HOOK_ENV] = str(number)
        return run_watched(args, env=run_env, cwd=cwd, timeout=timeout).result


def _point(number: int) -> CrashPoint:
    return CrashPoint(
        index=number,
        syscall="checkpoint",
        path="",
        detail=f"the tool exits {HOOK_EXIT_CODE} at its checkpoint {number} ({HOOK_ENV}={number})",
        backend="hook",
        nth=number,
    )
