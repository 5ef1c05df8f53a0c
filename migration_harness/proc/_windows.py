"""Windows side of process control: console process groups and lost descendants.

Each process the harness starts gets ``CREATE_NEW_PROCESS_GROUP``, so that a
Ctrl+C meant for the harness does not reach it (daemons, which the stop chain
interrupts, get a console of their own instead: see ``_winconsole``). Windows
keeps a dead parent's pid in its children's records, so orphans are found by
walking parent ids, bounded by creation time against pid reuse.

Every process the harness starts is also put in one Job Object of this
interpreter, created with ``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE``: when this
process ends in any way, Windows closes the job handle and kills every process
still in the job, detached or not (children join their parent's job). Under
Wine, or wherever a call fails, this degrades to the sweeps alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import subprocess
from collections.abc import Iterable
from typing import Any

import psutil

JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9  # the JOBOBJECTINFOCLASS value


class _BasicLimits(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class _IoCounters(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("Reads", "Writes", "Others", "ReadBytes", "WriteBytes", "OtherBytes")
    ]


class _ExtendedLimits(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", _BasicLimits),
        ("IoInfo", _IoCounters),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


class _FileTime(ctypes.Structure):
    _fields_ = [("low", ctypes.c_uint32), ("high", ctypes.c_uint32)]


#: 1970-01-01 in FILETIME ticks (100 ns since 1601-01-01).
_EPOCH_AS_FILETIME = 116444736000000000
_FILETIME_TICKS_PER_SECOND = 10_000_000

#: The job handle (an int), 0 once creating it failed, None before the first try.
_job: int | None = None


def popen_kwargs() -> dict[str, Any]:
    """Keyword arguments for ``subprocess.Popen``: a new console process group."""
    flags: int = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)
    return {"creationflags": flags}


def kill_group(pgid: int) -> None:
    """Windows cannot kill a process group in one call; the sweep kills each process."""


def group_exists(pgid: int) -> bool:
    """Windows has no queryable process groups; callers walk parent ids instead."""
    return False


def lost_descendants(pid: int, not_before: float) -> list[psutil.Process]:
    """Processes whose recorded parent chain leads to ``pid``, created after it."""
    by_parent: dict[int, list[psutil.Process]] = {}
    for proc in psutil.process_iter(["ppid"]):
        ppid = proc.info.get("ppid")
        if isinstance(ppid, int):
            by_parent.setdefault(ppid, []).append(proc)
    found: list[psutil.Process] = []
    seen = {pid}
    frontier = [pid]
    while frontier:
        for child in by_parent.get(frontier.pop(), []):
            if child.pid in seen or _created(child) < not_before:
                continue
            seen.add(child.pid)
            found.append(child)
            frontier.append(child.pid)
    return found


def descendants(proc: psutil.Process) -> list[psutil.Process]:
    """``proc``'s descendants, children first (psutil's walk by parent id); none once
    ``proc`` is gone."""
    try:
        return list(proc.children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def children(proc: psutil.Process) -> list[psutil.Process]:
    """``proc``'s children (psutil's walk by parent id); none once ``proc`` is gone."""
    try:
        return list(proc.children())
    except psutil.NoSuchProcess:
        return []


def _created(proc: psutil.Process) -> float:
    try:
        return float(proc.create_time())
    except psutil.Error:
        return -1.0


def adopt_descendants() -> bool:
    """Put this process itself in the kill-on-close job; True if it is in it.

    Windows has no subreaper; this is its counterpart: every process started
    from now on (through the harness or not) is born in the job, and all of
    them die when this process ends, however it ends.
    """
    job = _kill_on_close_job()
    if not job:
        return False
    try:
        kernel32 = _kernel32()
        kernel32.GetCurrentProcess.restype = ctypes.c_void_p
        return bool(kernel32.AssignProcessToJobObject(job, kernel32.GetCurrentProcess()))
    except (OSError, AttributeError, ValueError):
        return False


def is_subreaper() -> bool:
    return False


def reap(pids: Iterable[int]) -> None:
    """Nothing to do: Windows keeps no zombies for a parent to collect."""


def wait(proc: subprocess.Popen[Any], timeout: float | None) -> None:
    """``proc.wait(timeout)``: on Windows it waits on the process handle, exact already."""
    proc.wait(timeout)


def popen_create_time(proc: subprocess.Popen[Any]) -> float | None:
    """``proc``'s creation time (seconds since the epoch, as psutil gives it), read from
    the handle Popen holds, or None.

    By hand through ctypes: psutil opens the process by pid, which fails once it has
    exited; the handle still answers then, and keeps the pid from being reused.
    """
    handle = getattr(proc, "_handle", None)
    if handle is None:
        return None
    times = [_FileTime() for _ in range(4)]  # creation, exit, kernel, user
    try:
        ok = _kernel32().GetProcessTimes(int(handle), *(ctypes.byref(t) for t in times))
    except (OSError, AttributeError, ValueError):
        return None
    if not ok:
        return None
    ticks: int = (times[0].high << 32) | times[0].low
    return (ticks - _EPOCH_AS_FILETIME) / _FILETIME_TICKS_PER_SECOND


def contain(proc: subprocess.Popen[Any]) -> bool:
    """Put ``proc`` in this interpreter's kill-on-close Job Object; True if it is in it.

    By hand through ctypes: no maintained library wraps Job Objects without
    pywin32. A process started before the assignment lands may have started a
    child outside the job; the sweeps still find that one by its parent id.
    """
    job = _kill_on_close_job()
    handle = getattr(proc, "_handle", None)
    if not job or handle is None:
        return False
    try:
        kernel32 = _kernel32()
        return bool(kernel32.AssignProcessToJobObject(job, int(handle)))
    except (OSError, AttributeError, ValueError):
        return False


def _kill_on_close_job() -> int:
    global _job
    if _job is None:
        _job = 0
        with contextlib.suppress(OSError, AttributeError, ValueError):
            _job = _create_job()
    return _job


def _create_job() -> int:
    kernel32 = _kernel32()
    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        return 0
    info = _ExtendedLimits()
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    if not kernel32.SetInformationJobObject(
        job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, ctypes.byref(info), ctypes.sizeof(info)
    ):
        kernel32.CloseHandle(job)
        return 0
    # The handle is deliberately never closed: closing it is what kills the job.
    return int(job)


def _kernel32() -> Any:
    kernel32 = getattr(ctypes, "WinDLL")("kernel32", use_last_error=True)  # noqa: B009
    kernel32.CreateJobObjectW.restype = ctypes.c_void_p
    kernel32.CreateJobObjectW.argtypes = [ctypes.c_void_p, ctypes.c_wchar_p]
    kernel32.SetInformationJobObject.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_uint32,
    ]
    kernel32.AssignProcessToJobObject.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    kernel32.CloseHandle.argtypes = [ctypes.c_void_p]
    kernel32.GetProcessTimes.argtypes = [ctypes.c_void_p] + [ctypes.POINTER(_FileTime)] * 4
    return kernel32
