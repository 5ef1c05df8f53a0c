"""The sweep backend: kill the process tree at k/K of a measured normal run (any OS).

Probabilistic: where the command is at a given instant varies from run to run,
so a point names a moment, not a call. Use it when neither strace nor the hook
is available; a data loss it finds is real, but a clean sweep proves less.

The normal run is watched as well as timed. Its changes to the repo come in
bursts (a step's work) between quiet stretches (a runtime starting, a child
process starting, computing); only the bursts can lose data, so the K slices
cover the bursts laid end to end, and each kill is timed from the start of its
burst as the crash run is seen to make it, which takes the start-up jitter
before the burst out of where the kill lands. A run in which no change was seen
is sliced whole.
"""

from __future__ import annotations

import itertools
import math
import os
import subprocess
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
from migration_harness.files import companions
from migration_harness.proc import RunResult

DEFAULT_SLICES = 8
# How often a run's repo is looked at, and so how closely a kill follows its moment;
# bounded below by the cost of one look (a walk of the repo).
WATCH_POLL = 0.0005
# Changes further apart than this belong to different bursts: longer than a step's
# pauses between file operations, shorter than an interpreter start.
QUIET_GAP = 0.02

TreeState = tuple[tuple[str, int, int], ...]


def tree_state(repo: Path) -> TreeState:
    """Every entry under ``repo`` with its size and mtime: changes when any file does.

    Entries that vanish during the walk (the command is renaming them) are skipped. A
    repo that is not a directory is a single file: it and its companions are looked at.
    """
    entries: list[tuple[str, int, int]] = []
    if os.path.isdir(repo):
        base = str(repo)
        paths = [
            os.path.join(directory, name)
            for directory, dirnames, filenames in os.walk(repo)
            for name in (*dirnames, *filenames)
        ]
    else:
        base = os.path.dirname(repo)
        paths = [str(repo), *map(str, companions(repo))]
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        entries.append((os.path.relpath(path, base), st.st_size, st.st_mtime_ns))
    return tuple(sorted(entries))


class RepoActivity:
    """A run_watched watcher that records when a run changed ``repo``.

    A change seen at one look happened after the previous look: ``changes`` lists
    each as (previous look, this look) in seconds after the run's start.
    """

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._state = tree_state(repo)
        self._looked_at = 0.0
        self.changes: list[tuple[float, float]] = []

    def __call__(self, _proc: subprocess.Popen[bytes], elapsed: float) -> bool:
        state = tree_state(self.repo)
        if state != self._state:
            self._state = state
            self.changes.append((self._looked_at, elapsed))
        self._looked_at = elapsed
        return False  # only watching: never kill the timed run


def group_bursts(changes: Sequence[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """Join changes less than ``gap`` apart into bursts: (start, end) of each."""
    bursts: list[tuple[float, float]] = []
    for start, end in changes:
        if bursts and start - bursts[-1][1] < gap:
            bursts[-1] = (bursts[-1][0], end)
        else:
            bursts.append((start, end))
    return bursts


def split_gap(changes: Sequence[tuple[float, float]]) -> float:
    """The pause that separates bursts, placed as far as possible from the pauses seen.

    Pauses of at least QUIET_GAP split; the threshold is the geometric middle of the
    longest pause inside a burst and the shortest between bursts, so that a crash run
    whose pauses stretch or shrink a little still groups its changes the same way.
    """
    pauses = [b[0] - a[1] for a, b in itertools.pairwise(changes)]
    inside = [p for p in pauses if p < QUIET_GAP]
    between = [p for p in pauses if p >= QUIET_GAP]
    if not between:
        return QUIET_GAP
    low = max(max(inside, default=0.0), WATCH_POLL)
    return max(WATCH_POLL, math.sqrt(low * min(between)))


class SweepBackend:
    """Points in the middle of each of K slices of the run's bursts of repo changes, and
    in each pause between two bursts."""

    name = "sweep"

    def __init__(self, *, slices: int = DEFAULT_SLICES, max_points: int = DEFAULT_MAX_POINTS):
        if slices < 2:
            raise ValueError(f"sweep slices must be at least 2, got {slices}")
        self.slices = slices
        self.max_points = max_points
        self.measured: float | None = None
        self.bursts: list[tuple[float, float]] = []
        """When the timed run changed the repo: (start, end) seconds after its start."""
        self.split_gap = QUIET_GAP
        """The pause that separated the timed run's bursts; crash runs group by it too."""

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
        """Time one normal run, watching when it changes the repo (put back afterwards)."""
        with RepoBackup(repo, restore_data) as backup:
            activity = RepoActivity(Path(repo))
            run = run_watched(
                args, env=env, cwd=cwd, timeout=timeout, watcher=activity, poll=WATCH_POLL
            )
            backup.restore()
        if run.timed_out:
            raise TimeoutError(f"timing a normal run timed out:\n{run.result.describe()}")
        self.measured = float(run.result.duration)
        self.split_gap = split_gap(activity.changes)
        self.bursts = group_bursts(activity.changes, self.split_gap)
        if self.bursts:
            points = self._burst_points()
        else:
            points = [self._whole_run_point(k) for k in range(1, self.slices)]
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
        """Run and kill the whole tree once the point's moment has passed."""
        if point.at is None:
            raise ValueError(f"{point.describe()}: not a sweep crash point")
        if point.burst is None:
            due: _Due | _DueInBurst = _Due(point.at)
        else:
            due = _DueInBurst(Path(repo), point, self.split_gap)
        return run_watched(
            args, env=env, cwd=cwd, timeout=timeout, watcher=due, poll=WATCH_POLL
        ).result

    def _burst_points(self) -> list[CrashPoint]:
        """K slices of the bursts, plus one kill in each pause between two bursts.

        A pause shows the repo as the burst before it left it, for as long as the pause
        lasts (a child process starting, say): a step that wrote its version before
        its data is broken for that whole time, yet a kill inside the burst lands
        before that last write.
        """
        total = sum(end - start for start, end in self.bursts)
        timed = [
            self._in_bursts(total * (k - 0.5) / self.slices) for k in range(1, self.slices + 1)
        ]
        timed += [
            (number, end - start + (self.bursts[number][0] - end) / 2)
            for number, (start, end) in enumerate(self.bursts[:-1], 1)
        ]
        timed.sort(key=lambda t: self.bursts[t[0] - 1][0] + t[1])
        return [self._burst_point(i, number, offset) for i, (number, offset) in enumerate(timed, 1)]

    def _in_bursts(self, into: float) -> tuple[int, float]:
        """Which burst is ``into`` seconds into the bursts laid end to end, and how far in."""
        for number, (start, end) in enumerate(self.bursts, 1):
            if into <= end - start:
                return number, into
            into -= end - start
        last_start, last_end = self.bursts[-1]
        return len(self.bursts), last_end - last_start

    def _burst_point(self, index: int, number: int, offset: float) -> CrashPoint:
        assert self.measured is not None
        start, end = self.bursts[number - 1]
        moment = start + offset
        where = "during" if offset <= end - start else "in the pause after"
        return CrashPoint(
            index=index,
            syscall="time",
            path="",
            detail=(
                f"kill the process tree {offset * 1000:.1f}ms after burst {number} of "
                f"{len(self.bursts)} of changes to the repo starts, {where} it "
                f"({start:.3f}-{end:.3f}s of a {self.measured:.3f}s run); probabilistic: "
                "the command is not at the same step every run"
            ),
            backend="sweep",
            nth=index,
            fraction=moment / self.measured if self.measured else 0.0,
            at=moment,
            burst=number,
            after_burst=offset,
        )

    def _whole_run_point(self, k: int) -> CrashPoint:
        assert self.measured is not None
        moment = self.measured * k / self.slices
        return CrashPoint(
            index=k,
            syscall="time",
            path="",
            detail=(
                f"kill the process tree {moment:.3f}s after start ({k}/{self.slices} of a "
                f"{self.measured:.3f}s run in which no change to the repo was seen); "
                "probabilistic: the command is not at the same step every run"
            ),
            backend="sweep",
            nth=k,
            fraction=k / self.slices,
            at=moment,
        )


class _Due:
    """Kill once ``moment`` seconds have passed since the start."""

    def __init__(self, moment: float) -> None:
        self.moment = moment

    def __call__(self, _proc: subprocess.Popen[bytes], elapsed: float) -> bool:
        return elapsed >= self.moment


class _DueInBurst:
    """Kill ``point.after_burst`` seconds after this run starts burst ``point.burst``.

    If this run makes fewer bursts than the timed one, it is not killed: the
    command then simply completes, which the crash check treats like any run.
    """

    def __init__(self, repo: Path, point: CrashPoint, gap: float) -> None:
        assert point.burst is not None and point.after_burst is not None
        self.burst = point.burst
        self.offset = point.after_burst
        self.gap = gap
        self.activity = RepoActivity(repo)
        self.start: float | None = None

    def __call__(self, proc: subprocess.Popen[bytes], elapsed: float) -> bool:
        if self.start is None:
            self.activity(proc, elapsed)
            bursts = group_bursts(self.activity.changes, self.gap)
            if len(bursts) < self.burst:
                return False
            self.start = bursts[self.burst - 1][0]
        return elapsed >= self.start + self.offset
