"""Windows side of process control: console process groups and lost descendants.

Each process the harness starts gets ``CREATE_NEW_PROCESS_GROUP``, so that a
Ctrl+C meant for the harness does not reach it (daemons, which the stop chain
interrupts, get a console of their own instead: see ``_winconsole``). Windows
keeps a dead parent's pid in its children's records, so orphans are found by
walking parent ids, bounded by creation time against pid reuse.
"""

from __future__ import annotations

import subprocess
from typing import Any

import psutil


def popen_kwargs() -> dict[str, Any]:
    """Keyword arguments for ``subprocess.Popen``: a new console process group."""
    flags: int = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)
    return {"creationflags": flags}


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


def _created(proc: psutil.Process) -> float:
    try:
        return float(proc.create_time())
    except psutil.Error:
        return -1.0
