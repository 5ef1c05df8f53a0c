"""POSIX side of process control: sessions, process groups and signals.

Every process the harness starts leads its own session (``start_new_session``), so
its process group id equals its pid. A signal to the group reaches the daemon and
every helper it started, the way a terminal's Ctrl-C does, and orphaned
grandchildren can still be found by their group after their parent is gone.

On Linux the harness's own process also becomes a *child subreaper*: a process
that detaches (``setsid``, a double fork) is re-parented to us instead of init,
so it stays among our descendants where sweeps find it. macOS has no
subreaper; there the run's marker variable and process groups are all there is.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psutil

#: The polite steps of the stop chain, in order: (step name, signal).
POLITE_SIGNALS: tuple[tuple[str, int], ...] = (
    ("interrupt", signal.SIGINT),
    ("terminate", signal.SIGTERM),
)


#: prctl(2) option number, from <linux/prctl.h>.
PR_SET_CHILD_SUBREAPER = 36

#: The pid that became a subreaper (a forked child does not inherit the setting).
_subreaper_pid: int | None = None


def popen_kwargs() -> dict[str, Any]:
    """Keyword arguments for ``subprocess.Popen``: a new session and process group."""
    return {"start_new_session": True}


def daemon_popen_kwargs() -> dict[str, Any]:
    """``Popen`` keyword arguments for a daemon: the polite signals at their default.

    A signal this process ignores stays ignored in what it starts (a script's ``cmd &``
    job starts with SIGINT ignored), and the interrupt step would never be heard. Only
    then is a ``preexec_fn`` used: it costs subprocess its fast start path, and it runs
    nothing but ``signal.signal`` between fork and exec.
    """
    ignored = [signum for _, signum in POLITE_SIGNALS if signal.getsignal(signum) is signal.SIG_IGN]
    if not ignored:
        return {}

    def restore_defaults() -> None:
        for signum in ignored:
            signal.signal(signum, signal.SIG_DFL)

    return {"preexec_fn": restore_defaults}


def polite_steps(pid: int) -> list[tuple[str, Callable[[], None]]]:
    """The polite stop steps for the group led by ``pid``, each a callable that sends it."""
    return [(name, _group_signal_sender(pid, signum)) for name, signum in POLITE_SIGNALS]


def _group_signal_sender(pid: int, signum: int) -> Callable[[], None]:
    def send() -> None:
        # ProcessLookupError: the group is already gone, nothing left to stop.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signum)

    return send


def kill_group(pgid: int) -> None:
    """SIGKILL every member of process group ``pgid`` in one call.

    One ``killpg`` makes every member's SIGKILL pending together, so no process of
    the group runs another step in reaction to a sibling's death (and a process a
    tracer stopped at a syscall entry does not execute that syscall).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def group_exists(pgid: int) -> bool:
    """True while at least one process is still in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int, not_before: float) -> list[psutil.Process]:
    """Processes still in group ``pgid`` that were created at or after ``not_before``.

    The creation-time bound keeps this safe against a recycled group id.
    """
    if not group_exists(pgid):
        return []
    return [p for p in _all_processes() if _pgid(p.pid) == pgid and _created(p) >= not_before]


def lost_descendants(pid: int, not_before: float) -> list[psutil.Process]:
    """Descendants of ``pid`` that its death disconnected from it (they keep its group)."""
    return group_members(pid, not_before)


def descendants(proc: psutil.Process) -> list[psutil.Process]:
    """``proc``'s descendants, children first.

    On Linux from the kernel's per-thread lists of children (``/proc/PID/task/TID/
    children``), by hand: psutil finds children by reading the parent id of every
    process on the machine, and the harness asks after every command it runs, so that
    cost grew with whatever else the machine ran. Elsewhere, and on a kernel without
    those lists, psutil's walk. None once ``proc`` is gone.
    """
    import psutil

    if not _children_listed():
        try:
            return list(proc.children(recursive=True))
        except psutil.NoSuchProcess:
            return []

    found: list[psutil.Process] = []
    seen = {proc.pid}
    frontier = [proc.pid]
    while frontier:
        for pid in _child_pids(frontier.pop()):
            if pid in seen:
                continue
            seen.add(pid)
            with contextlib.suppress(psutil.Error):
                found.append(psutil.Process(pid))
                frontier.append(pid)
    return found


def children(proc: psutil.Process) -> list[psutil.Process]:
    """``proc``'s children (from the kernel's lists on Linux, see :func:`descendants`);
    none once ``proc`` is gone."""
    import psutil

    if not _children_listed():
        try:
            return list(proc.children())
        except psutil.NoSuchProcess:
            return []
    found = []
    for pid in _child_pids(proc.pid):
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


@functools.cache
def _children_listed() -> bool:
    me = os.getpid()
    return os.path.exists(f"/proc/{me}/task/{me}/children")


def _child_pids(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (none once it is gone)."""
    pids: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return pids
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", "rb") as listed:
                pids.extend(int(child) for child in listed.read().split())
        except OSError:
            continue  # the thread ended meanwhile
    return pids


def _all_processes() -> Iterable[psutil.Process]:
    import psutil  # on first use: see _track's docstring

    return psutil.process_iter()


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _created(proc: psutil.Process) -> float:
    import psutil

    try:
        return float(proc.create_time())
    except psutil.Error:
        return -1.0


def wait(proc: subprocess.Popen[Any], timeout: float | None) -> None:
    """``proc.wait(timeout)``, woken as ``proc`` exits.

    With a timeout, ``Popen.wait`` polls, sleeping up to 50 ms between looks: a command
    of 40 ms read as 63 ms, and the harness runs hundreds. On Linux a pidfd becomes
    readable the moment the process exits; elsewhere (macOS, an old kernel) Popen polls.
    """
    if timeout is None or proc.returncode is not None or not hasattr(os, "pidfd_open"):
        proc.wait(timeout)
        return
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:  # a kernel without pidfds
        proc.wait(timeout)
        return
    try:
        exits = select.poll()
        exits.register(pidfd, select.POLLIN)
        exited = bool(exits.poll(max(0, math.ceil(timeout * 1000))))
    finally:
        os.close(pidfd)
    if not exited:
        raise subprocess.TimeoutExpired(proc.args, timeout)
    proc.wait()


def popen_create_time(proc: subprocess.Popen[Any]) -> float | None:
    """None: on POSIX an exited child keeps its record (a zombie) until it is reaped, so
    psutil reads its creation time; there is nothing more to ask."""
    return None


def contain(proc: subprocess.Popen[Any]) -> bool:
    """Windows puts processes in a kill-on-close Job Object; POSIX has no such thing."""
    return False


def adopt_descendants() -> bool:
    """On Linux, become a child subreaper; elsewhere (macOS, BSD) nothing can be done."""
    return become_subreaper()


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); True if it is.

    By hand through ctypes: neither the standard library nor psutil exposes
    ``prctl(PR_SET_CHILD_SUBREAPER)``. Elsewhere (macOS, BSD) it is a no-op.
    """
    global _subreaper_pid
    if is_subreaper() or not sys.platform.startswith("linux"):
        return is_subreaper()
    import ctypes  # here, not at the top: a pytest session that runs no test never needs it

    try:
        # The running process's own symbols include libc's: no find_library, which
        # starts a subprocess (ldconfig) and costs tens of ms at every session start.
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
            _subreaper_pid = os.getpid()
    except (OSError, AttributeError):
        pass
    return is_subreaper()


def is_subreaper() -> bool:
    """True once :func:`become_subreaper` succeeded in this very process."""
    return _subreaper_pid == os.getpid()


def reap(pids: Iterable[int]) -> None:
    """Collect the exit status of each of ``pids`` that is our exited child.

    One ``waitpid`` per named pid, never ``waitpid(-1)``: a child that a
    ``subprocess.Popen`` still waits for must keep its status for it.
    """
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
