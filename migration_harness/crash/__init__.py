"""Crash points: kill a migration at each step and see what it leaves behind.

Three backends share one interface (:class:`CrashBackend`):

* ``strace`` (Linux): every file-system mutation inside the repo is a point, and every
  statement sent to the repo's database server; the re-run is killed exactly at that
  call. Deterministic, black-box, any language.
* ``hook``: tools that opt in exit with :data:`HOOK_EXIT_CODE` at their n-th
  checkpoint when :data:`HOOK_ENV` is n. Deterministic, any OS.
* ``sweep``: kill the tree at k/K of a measured run. Probabilistic, any OS.

Use :func:`pick_backend` to get one; ``"auto"`` picks the strongest available.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from migration_harness.crash._hook import (
    FAIL_ENV,
    HOOK_ENV,
    HOOK_EXIT_CODE,
    HookBackend,
    HookNotHonoured,
)
from migration_harness.crash._points import (
    DEFAULT_MAX_POINTS,
    CrashPoint,
    Injection,
    PointList,
    moved,
    sample_evenly,
)
from migration_harness.crash._repo import RestoreData
from migration_harness.crash._strace import CrashPointMismatch, CrashPointMissed, StraceBackend
from migration_harness.crash._sweep import DEFAULT_SLICES, SweepBackend
from migration_harness.errors import MigrationHarnessError
from migration_harness.proc import RunResult

__all__ = [
    "BACKENDS",
    "DEFAULT_MAX_POINTS",
    "DEFAULT_SLICES",
    "FAIL_ENV",
    "HOOK_ENV",
    "HOOK_EXIT_CODE",
    "BackendUnavailable",
    "CrashBackend",
    "CrashPoint",
    "CrashPointMismatch",
    "CrashPointMissed",
    "HookBackend",
    "HookNotHonoured",
    "Injection",
    "PointList",
    "RestoreData",
    "StraceBackend",
    "SweepBackend",
    "moved",
    "pick_backend",
    "sample_evenly",
]

BACKENDS = ("auto", "strace", "hook", "sweep")


class BackendUnavailable(MigrationHarnessError, RuntimeError):
    """A forced backend cannot run here; ``reason`` says why (callers turn it into a skip)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"crash backend {name!r} is unavailable: {reason}")
        self.name = name
        self.reason = reason


@runtime_checkable
class CrashBackend(Protocol):
    """Finds the crash points of a command and re-runs it killed at one of them."""

    name: str

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run on this machine, or None."""

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
        """Run the command normally and list its crash points (repo restored afterwards;
        ``restore_data`` puts back what the repo keeps outside its directory)."""

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
        """Run the command on a fresh repo, killed at ``point``; returns a RunResult."""


def pick_backend(
    name: str = "auto",
    *,
    hook_supported: bool = False,
    max_points: int = DEFAULT_MAX_POINTS,
    slices: int = DEFAULT_SLICES,
    servers: Sequence[str] = (),
) -> CrashBackend:
    """The backend called ``name``; ``"auto"``: strace if usable, else hook if the tool
    supports it, else sweep. A forced backend that cannot run raises BackendUnavailable.
    ``servers``: ``host:port`` of the database servers holding the repo's data; strace
    makes each send to them a point."""
    if name == "auto":
        strace = StraceBackend(max_points=max_points, servers=servers)
        if strace.unavailable_reason() is None:
            return strace
        if hook_supported:
            return HookBackend(max_points=max_points)
        return SweepBackend(slices=slices, max_points=max_points)
    backend: CrashBackend
    if name == "strace":
        backend = StraceBackend(max_points=max_points, servers=servers)
    elif name == "hook":
        if not hook_supported:
            raise BackendUnavailable(
                name, f"the target does not declare support for ${HOOK_ENV} checkpoints"
            )
        backend = HookBackend(max_points=max_points)
    elif name == "sweep":
        backend = SweepBackend(slices=slices, max_points=max_points)
    else:
        raise ValueError(f"unknown crash backend {name!r}; expected one of {', '.join(BACKENDS)}")
    reason = backend.unavailable_reason()
    if reason is not None:
        raise BackendUnavailable(name, reason)
    return backend
