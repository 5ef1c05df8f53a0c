"""Crash points and the even sampling that bounds how many a run may have."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

DEFAULT_MAX_POINTS = 40


@dataclass(frozen=True)
class Injection:
    """How the strace backend reaches one point: kill at the ``nth`` call of ``syscall``.

    strace counts per traced thread and per syscall; with ``paths`` set (``-P``) it only
    counts the calls that touch one of those paths, which makes the count immune to
    unrelated calls (module imports, byte-code caches) that may differ between runs.
    With ``all_threads`` the count runs over every traced thread and process instead:
    a multi-threaded program (a Go binary) makes a call from whichever thread runs the
    code at that moment, so a per-thread count differs from run to run. With ``peer``
    (``host:port``) it counts only the calls that send to that address: the statements
    a client sends its database server (strace's ``-P`` selects paths, not sockets).
    """

    syscall: str
    nth: int
    paths: tuple[str, ...] = ()
    expect: tuple[str, ...] = ()
    """The injected call's path arguments, digits masked: checked after each kill."""
    all_threads: bool = False
    peer: str = ""

    def describe(self) -> str:
        where = f" touching {', '.join(self.paths)}" if self.paths else ""
        where += " sending to the server" if self.peer else ""
        scope = "counted over all threads" if self.all_threads else "in any one process"
        return f"call #{self.nth} of {self.syscall}{where} {scope}"


@dataclass(frozen=True)
class CrashPoint:
    """One place where a crash backend can kill the command.

    ``index`` counts from 1 in the order the points happen. ``syscall`` is the
    file-system call or the send to a database server (strace), ``"checkpoint"`` (hook) or
    ``"time"`` (sweep); ``path`` is the file it touches (empty for a send, or when
    unknown); ``detail`` says what exactly happens there.
    """

    index: int
    syscall: str
    path: str
    detail: str
    backend: str = ""
    process: int = 1
    """Order of the process that makes the call: 1 is the command, 2 its first child..."""
    nth: int = 0
    """Per-process occurrence of ``syscall`` (strace) or the checkpoint number (hook)."""
    fraction: float | None = None
    """Sweep only: the share of a normal run's duration after which the tree is killed."""
    at: float | None = None
    """Sweep only: seconds after the start at which the tree is killed."""
    burst: int | None = None
    """Sweep only: the burst of repo changes (1 = the run's first) that ``after_burst``
    counts from; when set, the kill is timed from that burst's start instead of ``at``."""
    after_burst: float | None = None
    """Sweep only: seconds after the start of burst ``burst`` at which the tree is killed."""
    sampled_from: int | None = None
    """Number of points the run had before even sampling cut it down, or None."""
    overwrites: bool = False
    """The call changes or removes a file that existed before the run: where data is lost.
    Sampling keeps these first."""
    injections: tuple[Injection, ...] = field(default=(), repr=False)

    def describe(self) -> str:
        where = f" {self.path}" if self.path else ""
        sampled = f" (sampled from {self.sampled_from})" if self.sampled_from else ""
        return f"crash point {self.index}{sampled}: {self.syscall}{where}: {self.detail}"


def moved(point: CrashPoint, old: str, new: str) -> CrashPoint:
    """``point`` for a copy of the repo at another place: its injections' path filters
    (strace's ``-P``) moved from under ``old`` to under ``new``. The signatures an injected
    call is checked against mask digit runs, so places that differ in digits only (the
    crash contract's lanes) share them."""
    injections = tuple(
        dataclasses.replace(i, paths=tuple(path.replace(old, new, 1) for path in i.paths))
        for i in point.injections
    )
    return dataclasses.replace(point, injections=injections)


class PointList(list[CrashPoint]):
    """The points of one run; ``sampled_from`` is the count before sampling (or None)."""

    sampled_from: int | None = None
    backend: str = ""


T = TypeVar("T")


def sample_evenly(items: Sequence[T], limit: int) -> list[T]:
    """Keep at most ``limit`` items spread evenly, always keeping the first and last."""
    if limit < 1:
        raise ValueError(f"max_points must be at least 1, got {limit}")
    count = len(items)
    if count <= limit:
        return list(items)
    if limit == 1:
        return [items[0]]
    picked = sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})
    return [items[i] for i in picked]


def bounded_points(points: Sequence[CrashPoint], limit: int, backend: str) -> PointList:
    """Sample ``points`` down to ``limit``, renumber them 1..n and record the original count.

    Points that overwrite existing files are kept first (evenly sampled if even they are
    too many); the other points fill the remaining room evenly. Order is preserved.
    """
    risky = [i for i, point in enumerate(points) if point.overwrites]
    chosen = set(sample_evenly(risky, limit)) if risky else set()
    others = [i for i in range(len(points)) if i not in chosen]
    if limit > len(chosen) and others:
        chosen.update(sample_evenly(others, limit - len(chosen)))
    kept = [points[i] for i in sorted(chosen)]
    sampled_from = len(points) if len(kept) < len(points) else None
    result = PointList(
        _renumbered(point, number, sampled_from) for number, point in enumerate(kept, 1)
    )
    result.sampled_from = sampled_from
    result.backend = backend
    return result


def _renumbered(point: CrashPoint, index: int, sampled_from: int | None) -> CrashPoint:
    from dataclasses import replace

    return replace(point, index=index, sampled_from=sampled_from)
