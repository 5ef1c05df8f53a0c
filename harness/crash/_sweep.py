"""The sweep backend: kill the process tree at k/K of a measured normal run (any OS).

Probabilistic: where the command is at a given instant varies from run to run,
so a point names a moment, not a call. Use it when neither strace nor the hook
is available; a data loss it finds is real, but a clean sweep proves less.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.crash._exec import run_watched
from harness.crash._points import DEFAULT_MAX_POINTS, CrashPoint, PointList, bounded_points
from harness.crash._repo import RepoBackup
from harness.proc import RunResult

DEFAULT_SLICES = 8


class SweepBackend:
    """Points at 1/K, 2/K ... (K-1)/K of a normal run's duration."""

    name = "sweep"

    def __init__(self, *, slices: int = DEFAULT_SLICES, max_points: int = DEFAULT_MAX_POINTS):
        if slices < 2:
            raise ValueError(f"sweep slices must be at least 2, got {slices}")
        self.slices = slices
        self.max_points = max_points
        self.measured: float | None = None

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
    ) -> PointList:
        """Time one normal run (the repo is put back afterwards) and slice it."""
        with RepoBackup(repo) as backup:
            run = run_watched(args, env=env, cwd=cwd, timeout=timeout)
            backup.restore()
        if run.timed_out:
            raise TimeoutError(f"timing a normal run timed out:\n{run.result.describe()}")
        self.measured = float(run.result.duration)
        points = [self._point(k, self.measured) for k in range(1, self.slices)]
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
    ) -> RunResult:
        """Run and kill the whole tree once the point's moment has passed."""
        moment = point.at
        if moment is None:
            raise ValueError(f"{point.describe()}: not a sweep crash point")

        def due(_proc: subprocess.Popen[bytes], elapsed: float) -> bool:
            return elapsed >= moment

        return run_watched(args, env=env, cwd=cwd, timeout=timeout, watcher=due).result

    def _point(self, k: int, measured: float) -> CrashPoint:
        moment = measured * k / self.slices
        return CrashPoint(
            index=k,
            syscall="time",
            path="",
            detail=(
                f"kill the process tree {moment:.3f}s after start ({k}/{self.slices} of a "
                f"{measured:.3f}s run); probabilistic: the command is not at the same step "
                "every run"
            ),
            backend="sweep",
            nth=k,
            fraction=k / self.slices,
            at=moment,
        )
