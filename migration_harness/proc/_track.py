"""Tracking of every process the harness starts, and the sweep that kills what is left.

A process is remembered by pid *and* creation time, so a recycled pid is never
mistaken for ours. Its "family" is the process, its descendants, whatever still
sits in the process group it leads, and every process that carries its *marker*:
each process started here gets ``MIGRATION_HARNESS_PROC=<run token>.<serial>``
in its environment, which its descendants inherit however they detach (a new
session, a double fork). On Linux the sweeping process is a child subreaper, so
detached descendants are re-parented to it and the marker is read from our own
descendants only; elsewhere every process of ours is scanned for it.

Three sweeps use this: the pytest plugin at each test's teardown and at session
end, ``atexit`` for plain library use, and the *guardian*: a small watcher
process that holds the read end of a pipe from this process and sweeps the
recorded pids when the pipe breaks. It is what still runs after ``os._exit``
(pytest-timeout's thread method), a SIGKILL, or a crash of the interpreter.

psutil is imported inside the functions that use it, not here: the pytest plugin
imports this module in every session of a virtualenv that has the package, and
most of those sessions never start a process (psutil is a third of the plugin's
start-up cost).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from migration_harness.proc._marker import MARKER_ENV, RUN_TOKEN, guardian_wanted, want_guardian
from migration_harness.proc._spawn import spawn

if TYPE_CHECKING:
    import psutil

if sys.platform == "win32":
    from migration_harness.proc import _windows as _platform
else:
    from migration_harness.proc import _posix as _platform

#: Creation times read by different processes may differ by rounding.
CREATE_TIME_SLACK = 0.05
#: An entry's creation time when it could not be read (the process was already gone).
UNKNOWN_CREATE_TIME = 0.0
#: How long a sweep waits for killed processes to disappear.
KILL_WAIT_TIMEOUT = 3.0
#: How long a normal exit waits for the guardian's last (empty) sweep.
GUARDIAN_EXIT_TIMEOUT = 10.0


# NamedTuples rather than frozen dataclasses: the plugin imports this module in every
# pytest session, and the two dataclasses were most of its import time (2.5 ms).
class TrackedProcess(NamedTuple):
    """A process started through :mod:`migration_harness.proc`."""

    pid: int
    create_time: float
    cmdline: tuple[str, ...] = ()
    serial: int = 0
    owner: str | None = None


class Leftover(NamedTuple):
    """A process found still running by a sweep (and then killed)."""

    pid: int
    cmdline: str
    create_time: float = 0.0

    def describe(self) -> str:
        return f"pid {self.pid}: {self.cmdline}"


_lock = threading.RLock()
_entries: list[TrackedProcess] = []
_popens: weakref.WeakValueDictionary[int, subprocess.Popen[Any]] = weakref.WeakValueDictionary()
_serials = itertools.count(1)
_last_serial = 0
_owner: ContextVar[str | None] = ContextVar("harness_proc_owner", default=None)
_atexit_registered = False
_guardian: subprocess.Popen[bytes] | None = None
_registry: IO[str] | None = None


def adopt_descendants() -> bool:
    """Make sure what this process starts cannot get away: a child subreaper on Linux,
    a kill-on-close Job Object holding this process on Windows, nothing on macOS."""
    return _platform.adopt_descendants()


def adopts_orphans() -> bool:
    """True once this process is the reaper of its detached descendants (Linux): then
    every process it left running is among its children."""
    return _platform.is_subreaper()


def popen_kwargs() -> dict[str, Any]:
    """Popen keyword arguments that give the child its own process group."""
    return _platform.popen_kwargs()


def wait(proc: subprocess.Popen[Any], timeout: float | None) -> None:
    """``proc.wait(timeout)`` (raising ``TimeoutExpired`` the same way), but woken the
    moment the process exits where the OS can tell us (see the platform modules)."""
    _platform.wait(proc, timeout)


def reserve() -> int:
    """The serial of the next process to start (its marker names it, see :func:`marked`)."""
    global _last_serial
    with _lock:
        _last_serial = next(_serials)
        return _last_serial


def marker(serial: int) -> str:
    return f"{RUN_TOKEN}.{serial}"


def marked(env: Mapping[str, str] | None, serial: int) -> dict[str, str]:
    """``env`` (default: ours) with the marker of the process ``serial`` added."""
    marked_env = dict(os.environ if env is None else env)
    marked_env[MARKER_ENV] = marker(serial)
    return marked_env


def track(
    proc: subprocess.Popen[Any], args: Sequence[str] = (), serial: int | None = None
) -> TrackedProcess:
    """Remember ``proc`` so that sweeps can find it and what it starts."""
    create_time = _create_time(proc.pid)
    if create_time is None:  # already gone (or not yet visible, under Wine): ask its handle
        create_time = _platform.popen_create_time(proc)
    _platform.contain(proc)
    with _lock:
        entry = TrackedProcess(
            pid=proc.pid,
            create_time=UNKNOWN_CREATE_TIME if create_time is None else create_time,
            cmdline=tuple(str(a) for a in args),
            serial=reserve() if serial is None else serial,
            owner=_owner.get(),
        )
        _entries.append(entry)
        _popens[proc.pid] = proc
        _register_atexit()
        _record_for_guardian(entry)
    return entry


def mark() -> int:
    """A watermark: :func:`entries_since` returns what was tracked after it."""
    with _lock:
        return _last_serial


def entries_since(watermark: int, *, unowned_only: bool = False) -> list[TrackedProcess]:
    """Processes tracked after ``watermark`` (optionally only those with no owner)."""
    with _lock:
        found = [e for e in _entries if e.serial > watermark]
    if unowned_only:
        found = [e for e in found if e.owner is None]
    return found


def all_entries() -> list[TrackedProcess]:
    with _lock:
        return list(_entries)


@contextlib.contextmanager
def owned_by(owner: str) -> Iterator[None]:
    """Mark processes started inside the block as belonging to ``owner``.

    The pytest plugin uses it for fixtures wider than one test, whose processes
    are not a test's leftovers.
    """
    token = _owner.set(owner)
    try:
        yield
    finally:
        _owner.reset(token)


def family(
    entry: TrackedProcess, marked: Mapping[str, list[psutil.Process]] | None = None
) -> list[psutil.Process]:
    """The live (non-zombie) processes of ``entry``: itself, descendants, group members,
    and the processes carrying its marker (``marked``: from :func:`by_marker`, if known)."""
    import psutil

    found: dict[int, psutil.Process] = {}
    leader = _same_process(entry)
    if leader is not None:
        found[leader.pid] = leader
        with contextlib.suppress(psutil.Error):
            for child in _platform.descendants(leader):
                found[child.pid] = child
    # Without its creation time, a dead process's pid may since be anyone's, and on
    # Windows the children of whoever held it (Wine's own services, once) would be
    # taken for ours; the marker still finds what our process started.
    known = entry.create_time != UNKNOWN_CREATE_TIME
    if known and (leader is not None or not _pid_recycled(entry)):
        for proc in _platform.lost_descendants(entry.pid, entry.create_time - CREATE_TIME_SLACK):
            if proc.pid == entry.pid and leader is None:
                continue  # same pid, different process: not ours
            found.setdefault(proc.pid, proc)
            with contextlib.suppress(psutil.Error):
                for child in _platform.descendants(proc):
                    found.setdefault(child.pid, child)
    if entry.serial:
        if marked is None:
            marked = by_marker([entry])
        for proc in marked.get(marker(entry.serial), []):
            found.setdefault(proc.pid, proc)
    found.pop(os.getpid(), None)
    return [p for p in found.values() if _is_live(p)]


def still_running(entry: TrackedProcess) -> list[Leftover]:
    """What ``entry`` left running: its live family, once the process itself has exited."""
    return [_leftover(p) for p in family(entry)]


def candidates() -> list[psutil.Process]:
    """Every process a sweep may look at for markers: with a subreaper, our descendants;
    otherwise all processes (on POSIX, only those of our own user)."""
    import psutil

    if _platform.is_subreaper():
        with contextlib.suppress(psutil.Error):
            return _platform.descendants(psutil.Process())
        return []
    if not hasattr(os, "getuid") or os.getuid() == 0:
        return list(psutil.process_iter())
    uid = os.getuid()
    return [p for p in psutil.process_iter(["uids"]) if getattr(p.info["uids"], "real", 0) == uid]


def run_processes(zombies: list[int] | None = None) -> set[psutil.Process]:
    """Every live process this run may have started, however: our descendants (on Linux,
    with the subreaper, that is all of them) and every process carrying our run's marker.
    The guardian is not one of them. Exited ones still unreaped go to ``zombies``."""
    import psutil

    me = os.getpid()
    found: set[psutil.Process] = set()
    if not _platform.is_subreaper():
        found = {p for p in candidates() if _is_ours(marker_of(p))}
    with contextlib.suppress(psutil.Error):
        found.update(_platform.descendants(psutil.Process(me)))
    guardian = _guardian.pid if _guardian is not None else None
    live: set[psutil.Process] = set()
    for proc in found:
        if proc.pid in (me, guardian):
            continue
        try:
            status = proc.status()
        except psutil.Error:
            continue
        if status != psutil.STATUS_ZOMBIE:
            live.add(proc)
        elif zombies is not None:
            zombies.append(proc.pid)
    return live


def _is_ours(value: str | None, token: str = RUN_TOKEN) -> bool:
    return value is not None and (value == token or value.startswith(f"{token}."))


def sweep_marked(token: str) -> list[Leftover]:
    """Kill every process (of our user) that carries run ``token``'s marker (the guardian
    uses it: after its run died, detached descendants are re-parented away from it)."""
    me = os.getpid()
    return kill(p for p in candidates() if p.pid != me and _is_ours(marker_of(p), token))


def marker_of(proc: psutil.Process) -> str | None:
    """The value of ``MIGRATION_HARNESS_PROC`` in ``proc``'s environment, if readable."""
    import psutil

    try:
        return proc.environ().get(MARKER_ENV)
    except (psutil.Error, OSError):
        return None


def by_marker(entries: Iterable[TrackedProcess]) -> dict[str, list[psutil.Process]]:
    """The processes (among :func:`candidates`) carrying the marker of one of ``entries``."""

    wanted = {marker(e.serial) for e in entries if e.serial}
    found: dict[str, list[psutil.Process]] = {}
    if not wanted:
        return found
    me = os.getpid()
    for proc in candidates():
        value = marker_of(proc) if proc.pid != me else None
        if value in wanted:
            found.setdefault(value, []).append(proc)
    return found


def kill(procs: Iterable[psutil.Process], timeout: float = KILL_WAIT_TIMEOUT) -> list[Leftover]:
    """Kill ``procs`` (those still live), wait for them, and return what was killed."""
    live = [p for p in procs if _is_live(p)]
    found = [_leftover(p) for p in live]
    if live:
        _kill_and_wait(live, timeout)
    return found


def wait_gone(leftovers: Iterable[Leftover], timeout: float) -> list[Leftover]:
    """Wait up to ``timeout`` s for ``leftovers`` to exit on their own; the ones still live."""
    procs = [p for p in (_process_of(leftover) for leftover in leftovers) if p is not None]
    if procs:
        _wait_dead(procs, timeout)
        reap_orphans()
    return [_leftover(p) for p in procs if _is_live(p)]


def kill_leftovers(leftovers: Iterable[Leftover]) -> list[Leftover]:
    """Kill each of ``leftovers`` still running (the same process: pid and creation time)."""
    return kill(p for p in (_process_of(leftover) for leftover in leftovers) if p is not None)


def stop_left_running(leftovers: Iterable[Leftover], grace: float) -> list[Leftover]:
    """Give ``leftovers`` ``grace`` seconds to exit on their own, then kill the rest;
    return those that had to be killed."""
    return kill_leftovers(wait_gone(leftovers, grace))


def reap_orphans(zombies: Iterable[int] | None = None) -> None:
    """Collect exited children that nothing else will wait for (re-parented orphans).

    A subreaper inherits orphans: once they exit they stay zombies until we
    wait for them. A child some ``Popen`` (subprocess or multiprocessing) still
    waits for is left alone, so its own ``wait`` keeps the real exit status.
    ``zombies``: the exited processes a scan already found (else we look).
    """
    import psutil

    if zombies is None:
        zombies = []
        for child in _platform.children(psutil.Process()):
            with contextlib.suppress(psutil.Error):
                if child.status() == psutil.STATUS_ZOMBIE:
                    zombies.append(child.pid)
    # A child we started through the harness is waited for by its own Popen: no need to
    # look through the garbage collector's referrers for one (7 ms after every kill).
    zombies = [pid for pid in zombies if pid not in _popens]
    if zombies:
        waited = _waited_for_elsewhere()
        _platform.reap(pid for pid in zombies if pid not in waited)


def sweep(
    entries: Iterable[TrackedProcess], *, timeout: float = KILL_WAIT_TIMEOUT
) -> list[Leftover]:
    """Kill every live process of ``entries``; return what was found running."""
    entries = list(entries)
    leftovers: dict[int, Leftover] = {}
    # A second pass catches children forked while the first pass was killing.
    for _ in range(2):
        marked = by_marker(entries)
        victims = {p.pid: p for e in entries for p in family(e, marked)}
        if not victims:
            break
        for pid, proc in victims.items():
            leftovers.setdefault(pid, _leftover(proc))
        _kill_and_wait(list(victims.values()), timeout)
    _forget_finished(entries)
    return list(leftovers.values())


def kill_tree(pid: int, *, timeout: float = KILL_WAIT_TIMEOUT) -> None:
    """Kill ``pid`` and every process it started (its tree and its process group).

    A process started here leads its own process group: while it runs, its whole
    group is killed in one call first (on POSIX), so that no process of the tree
    can react to another's death; then every process of its family is killed.
    Returns once they are gone, or after ``timeout`` seconds. A pid that no longer
    exists is not an error.
    """
    entry = _entry_for(pid)
    if entry is None:
        create_time = _create_time(pid)
        if create_time is None:
            return
        entry = TrackedProcess(pid=pid, create_time=create_time)
    elif _same_process(entry) is not None:
        _platform.kill_group(pid)
    sweep([entry], timeout=timeout)
    # Members the group kill left dead at once are no victims of the sweep, which
    # then collected none of them: those re-parented to us would stay zombies.
    reap_orphans()


def sweep_all() -> list[Leftover]:
    """Kill everything this process ever started through the harness that still runs."""
    return sweep(all_entries())


def enable_guardian() -> None:
    """Start a guardian process (lazily, with the first tracked process).

    The guardian outlives an abrupt end of this interpreter and sweeps then.
    """
    want_guardian()


# -- internals -----------------------------------------------------------------


def _entry_for(pid: int) -> TrackedProcess | None:
    with _lock:
        for entry in reversed(_entries):
            if entry.pid == pid:
                return entry
    return None


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _same_process(entry: TrackedProcess) -> psutil.Process | None:
    """The live process ``entry`` describes, or None (exited, reaped or pid recycled)."""
    import psutil

    popen = _popens.get(entry.pid)
    if popen is not None and popen.poll() is not None:
        return None
    try:
        proc = psutil.Process(entry.pid)
        same = abs(float(proc.create_time()) - entry.create_time) <= CREATE_TIME_SLACK
    except psutil.Error:
        return None
    return proc if same and _is_live(proc) else None


def _pid_recycled(entry: TrackedProcess) -> bool:
    created = _create_time(entry.pid)
    return created is not None and abs(created - entry.create_time) > CREATE_TIME_SLACK


def _is_live(proc: psutil.Process) -> bool:
    import psutil

    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _leftover(proc: psutil.Process) -> Leftover:
    created = _create_time(proc.pid)
    return Leftover(proc.pid, _cmdline(proc), created if created is not None else 0.0)


def _process_of(leftover: Leftover) -> psutil.Process | None:
    import psutil

    try:
        proc = psutil.Process(leftover.pid)
        same = abs(float(proc.create_time()) - leftover.create_time) <= CREATE_TIME_SLACK
    except psutil.Error:
        return None
    return proc if same else None


def _waited_for_elsewhere() -> set[int]:
    """Pids of children a live ``Popen`` object of this interpreter will wait for.

    The garbage collector's view is the only list of them: subprocess keeps none. Not
    ``gc.get_objects()``: holding a reference to every object, it would hold a tuple that
    another thread is still building, and CPython's resize of it would then fail with a
    SystemError in that thread. Instances of a class written in Python refer to their
    class, so the objects referring to the Popen classes are all we need.
    """
    pids = set(_popens.keys())
    for obj in gc.get_referrers(*_popen_classes()):
        pid, returncode = getattr(obj, "pid", None), getattr(obj, "returncode", 0)
        if isinstance(pid, int) and returncode is None and not isinstance(obj, type):
            pids.add(pid)
    return pids


def _popen_classes() -> list[type]:
    """``subprocess.Popen`` and multiprocessing's, with their subclasses."""
    roots: list[type] = [subprocess.Popen]
    for name in ("popen_fork", "popen_spawn_posix", "popen_forkserver", "popen_spawn_win32"):
        module = sys.modules.get(f"multiprocessing.{name}")
        popen = getattr(module, "Popen", None)
        if isinstance(popen, type):
            roots.append(popen)
    found: list[type] = []
    while roots:
        cls = roots.pop()
        if cls not in found:
            found.append(cls)
            roots.extend(cls.__subclasses__())
    return found


def _cmdline(proc: psutil.Process) -> str:
    import psutil

    try:
        return " ".join(proc.cmdline()) or proc.name()
    except psutil.Error:
        return "?"


def _kill_and_wait(victims: list[psutil.Process], timeout: float) -> None:
    import psutil

    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    # Our own children are reaped through their Popen: psutil would reap them
    # behind subprocess's back and their exit status would be lost.
    ours = [(p, _popens.get(p.pid)) for p in victims]
    others = [p for p, popen in ours if popen is None]
    for _, popen in ours:
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout)
    _wait_dead(others, timeout)
    reap_orphans()


def _wait_dead(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until none of ``procs`` runs; a zombie counts as dead.

    Not ``psutil.wait_procs``: for processes that are not our children it waits
    until they are *reaped*, and a slow init (as in some containers) makes that
    take seconds after they died.
    """

    deadline = time.monotonic() + timeout
    delay = 0.001
    while any(_is_live(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _forget_finished(entries: list[TrackedProcess]) -> None:
    """Drop entries that can never have a live family again (keeps sweeps cheap)."""
    marked = by_marker(entries)
    done = {id(e) for e in entries if not family(e, marked)}
    with _lock:
        _entries[:] = [e for e in _entries if id(e) not in done]


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_sweep_at_exit)
        _atexit_registered = True


def _sweep_at_exit() -> None:
    with contextlib.suppress(Exception):
        sweep_all()
    _stop_guardian()


def _record_for_guardian(entry: TrackedProcess) -> None:
    if not guardian_wanted():
        return
    if _guardian is None:
        _start_guardian()
    if _registry is not None:
        with contextlib.suppress(OSError, ValueError):
            _registry.write(f"{entry.pid} {entry.create_time!r}\n")
            _registry.flush()


def _start_guardian() -> None:
    global _guardian, _registry
    fd, path = tempfile.mkstemp(prefix="mh-procs-", suffix=".txt")
    _registry = os.fdopen(fd, "w", encoding="ascii")
    env = dict(os.environ)
    # The guardian imports this package: give it the same import path we have.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    quiet = subprocess.PIPE if sys.platform == "win32" else subprocess.DEVNULL
    _guardian = spawn(
        [
            sys.executable,
            "-m",
            "migration_harness.proc._guardian",
            str(os.getpid()),
            path,
            RUN_TOKEN,
        ],
        stdin=subprocess.PIPE,
        stdout=quiet,
        stderr=quiet,
        env=env,
        **_platform.popen_kwargs(),
    )


def _stop_guardian() -> None:
    """Close the pipe: the guardian sweeps (nothing left by now) and exits."""
    global _guardian, _registry
    guardian, _guardian = _guardian, None
    registry, _registry = _registry, None
    if registry is not None:
        # The guardian deletes the registry once the pipe closes; Windows cannot delete a
        # file that another process still has open.
        with contextlib.suppress(OSError):
            registry.close()
    if guardian is not None and guardian.stdin is not None:
        with contextlib.suppress(OSError):
            guardian.stdin.close()
        # Wait for it: a guardian still sweeping would itself outlive the run.
        with contextlib.suppress(subprocess.TimeoutExpired):
            guardian.wait(GUARDIAN_EXIT_TIMEOUT)


def read_registry(path: str) -> list[TrackedProcess]:
    """The entries a guardian registry file lists (``pid create_time`` per line)."""
    entries: list[TrackedProcess] = []
    with open(path, encoding="ascii") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) == 2:
                with contextlib.suppress(ValueError):
                    entries.append(TrackedProcess(int(fields[0]), float(fields[1])))
    return entries
