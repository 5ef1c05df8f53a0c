"""The strace backend: deterministic kills at each file-system mutation (Linux).

enumerate() runs the command under ``strace -f -y`` and keeps the mutating calls
that touch the repo; _strace_plan works out, for each, an injection that strace
fires at exactly that call.

crash_at() does not let strace kill the process: it parks the call at its entry
(``delay_enter``), waits until the trace shows it parked, then SIGKILLs the whole
process group in one go. A parent waiting for the parked child therefore dies
without seeing the child die, so it cannot react (release a lock, restore a
backup), and the run ends in the same state every time.

strace counts calls per thread. For a point of a multi-threaded process the count
runs over all threads instead: every call on the point's paths is held for a moment
at its entry, and the run is killed while the nth is held. If the moment passed
before the kill landed, the run is repeated with a longer hold; a point that still
cannot be reached is reported as not reproducible (:class:`CrashPointMissed`).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from migration_harness.crash._exec import POLL_INTERVAL, run_watched
from migration_harness.crash._points import (
    DEFAULT_MAX_POINTS,
    CrashPoint,
    Injection,
    PointList,
    bounded_points,
)
from migration_harness.crash._repo import RepoBackup, RestoreData
from migration_harness.crash._strace_plan import mutations, plan_points, show_call, signature
from migration_harness.crash._strace_trace import (
    ANCHOR_SYSCALLS,
    MUTATING_SYSCALLS,
    SEND_SYSCALLS,
    THREAD_SYSCALLS,
    Call,
    parse_trace,
)
from migration_harness.errors import MigrationHarnessError
from migration_harness.files import companions
from migration_harness.proc import RunResult

# Long enough that only our kill ends the parked call; strace takes "s" suffixes.
_PARK = "3600s"
# Grace before the kill once the parked call is identified (belt and braces: the
# identification itself is exact, see _ParkedWatcher).
_SETTLE = 0.05
# How long each call on a point's paths is held when counting over all threads (each
# call before the point costs one hold); a longer hold is tried when the kill came
# too late, as on a loaded machine. The watcher polls well within the first.
_HOLDS = ("0.02s", "0.1s", "0.5s", "2s")
_ALL_THREADS_POLL = 0.004


class CrashPointMissed(MigrationHarnessError, RuntimeError):
    """The run never stopped at the crash point (its calls differ from run to run)."""

    def __init__(self, point: CrashPoint, result: RunResult | None, why: str | None = None) -> None:
        why = why or (
            "the command finished without making that call, so it was not killed; its "
            "file-system calls differ between runs (random temp names?)"
        )
        super().__init__(f"{point.describe()}: {why}")
        self.point = point
        self.result = result


@functools.cache
def strace_unavailable_reason() -> str | None:
    """Why the strace backend cannot run here, or None (checked once per process)."""
    if not sys.platform.startswith("linux"):
        return f"strace crash points need Linux (this is {sys.platform})"
    strace = shutil.which("strace")
    if strace is None:
        return "strace is not installed (Debian/Ubuntu: apt-get install strace)"
    probe = subprocess.run(
        [strace, "-f", "-qqq", "-o", os.devnull, "true"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["no message"])[0]
        return f"strace cannot trace here (ptrace not permitted?): {why}"
    return None


class StraceBackend:
    """Crash points from strace: every mutating file-system call inside the repo, and with
    ``servers`` (``host:port`` of database servers holding the repo's data) every send to
    one of them: each statement, each commit."""

    name = "strace"

    def __init__(
        self,
        *,
        max_points: int = DEFAULT_MAX_POINTS,
        warmup: bool = True,
        servers: Sequence[str] = (),
    ) -> None:
        self.max_points = max_points
        self.warmup = warmup
        self.servers = tuple(servers)
        self.unreachable: list[CrashPoint] = []
        """Points no injection reaches first, left out of enumerate()'s list."""
        self.warmup_differs = False
        """True when the warm-up run mutated the repo differently from the traced run."""

    def unavailable_reason(self) -> str | None:
        return strace_unavailable_reason()

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
        """Run ``args`` under strace; the repo is put back as it was afterwards.

        With ``warmup`` (the default) the command runs twice and the second run's trace
        counts: first runs differ (byte-code caches, lazily created files elsewhere), and
        every crash run is a later run.
        """
        run_cwd = os.path.abspath(cwd if cwd is not None else os.getcwd())
        existing = _files_in(repo)
        traces: list[list[Call]] = []
        backup = RepoBackup(repo, restore_data)
        with tempfile.TemporaryDirectory(prefix="mh-strace-") as tmp, backup:
            for attempt in range(2 if self.warmup else 1):
                trace_file = Path(tmp) / f"trace{attempt}"
                traced = ",".join(dict.fromkeys(self._traced()))
                base = _strace_base(trace_file, sockets=bool(self.servers))
                shown = _TEXT_SHOWN if self.servers else ()
                command = [*base, *shown, "-e", f"trace={traced}", "--", *args]
                run = run_watched(command, env=env, cwd=cwd, timeout=timeout)
                backup.restore()
                if run.timed_out:
                    raise TimeoutError(
                        f"enumerating crash points timed out:\n{run.result.describe()}"
                    )
                traces.append(_read_trace(trace_file, run_cwd))
        points, self.unreachable = plan_points(traces[-1], repo, existing, frozenset(self.servers))
        if len(traces) == 2:
            self.warmup_differs = mutations(traces[0], repo) != mutations(traces[1], repo)
        return bounded_points(points, self.max_points, self.name)

    def _traced(self) -> tuple[str, ...]:
        sends = SEND_SYSCALLS if self.servers else ()
        return (*MUTATING_SYSCALLS, *sends, *ANCHOR_SYSCALLS, *THREAD_SYSCALLS)

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
        """Run ``args`` and kill the whole tree as it enters the call of ``point``."""
        if not point.injections:
            raise ValueError(f"{point.describe()}: not a strace crash point (no injection plan)")
        backup = RepoBackup(repo, restore_data)
        with tempfile.TemporaryDirectory(prefix="mh-strace-") as tmp, backup:
            result: RunResult | None = None
            missed: str | None = None
            attempts = [(i, hold) for i in point.injections for hold in _holds(i)]
            for attempt, (injection, hold) in enumerate(attempts):
                if attempt:
                    backup.restore()  # the previous plan let the run go on: start afresh
                trace_file = Path(tmp) / f"trace{attempt}"
                base = _strace_base(trace_file, sockets=bool(self.servers))
                command = [*base, *_inject_args(injection, hold), "--", *args]
                watcher = _ParkedWatcher(trace_file, injection)
                poll = _ALL_THREADS_POLL if injection.all_threads else POLL_INTERVAL
                run = run_watched(
                    command, env=env, cwd=cwd, timeout=timeout, watcher=watcher, poll=poll
                )
                result = run.result
                if run.timed_out:
                    return result
                if not run.killed:
                    continue
                try:
                    _check_parked_call(point, injection, trace_file, result)
                except CrashPointMismatch as mismatch:
                    if not injection.all_threads:
                        raise
                    missed = f"not reproducible: killed at {mismatch.seen}"
                    continue
                return result
            raise CrashPointMissed(point, result, missed)


def _holds(injection: Injection) -> tuple[str, ...]:
    return _HOLDS if injection.all_threads else (_PARK,)


def _files_in(repo: Path) -> frozenset[str]:
    """Absolute paths (as given and canonical) of every file under ``repo``, or of a
    single-file repo and its companions."""
    found: set[str] = set()
    for root in {os.path.abspath(repo), os.path.realpath(repo)}:
        if os.path.isfile(root):
            found.update([root, *map(str, companions(root))])
        for folder, _dirs, files in os.walk(root):
            found.update(os.path.join(folder, name) for name in files)
    return frozenset(found)


class CrashPointMismatch(MigrationHarnessError, RuntimeError):
    """The run was killed at a call other than the point's: the tool's calls vary per run."""

    def __init__(self, point: CrashPoint, result: RunResult, seen: str) -> None:
        super().__init__(
            f"{point.describe()}: the run was killed entering {seen} instead; the command's "
            "file-system calls differ from run to run, so this point is not reproducible"
        )
        self.point = point
        self.result = result
        self.seen = seen


def _read_trace(trace_file: Path, cwd: str) -> list[Call]:
    with trace_file.open(encoding="utf-8", errors="surrogateescape") as lines:
        return parse_trace(lines, cwd)


def _check_parked_call(
    point: CrashPoint, injection: Injection, trace_file: Path, result: RunResult
) -> None:
    """Raise CrashPointMismatch unless the killed call is the one planned."""
    calls = [c for c in _read_trace(trace_file, "") if c.name == injection.syscall]
    if injection.peer:
        calls = [c for c in calls if c.peer == injection.peer]
    if injection.all_threads:
        # Every call on the paths is traced: the nth must be the one still held.
        if len(calls) != injection.nth or calls[-1].complete:
            seen = f"call #{len(calls)} of {injection.syscall} on those paths"
            held = "completed" if calls and calls[-1].complete else "held"
            raise CrashPointMismatch(point, result, f"{seen} ({held}), the hold ran out first")
        killed = [calls[-1]]
    else:
        killed = [c for c in calls if not c.complete]
    if not killed:
        return  # nothing to compare (strace's output was cut short by the kill)
    call = killed[-1]
    if injection.expect and signature(call) != injection.expect:
        raise CrashPointMismatch(point, result, show_call(call))


def _strace_base(trace_file: Path, *, sockets: bool = False) -> list[str]:
    # -f: follow children; -qqq: no attach/exit chatter; -y: fd paths (-yy: and a TCP
    # socket's two ends, to tell sends to the server apart); signals are noise
    fds = "-yy" if sockets else "-y"
    base = ["strace", "-f", "-qqq", fds, "-e", "signal=none", "-o", str(trace_file)]
    return [*base, *seccomp_args()]


def seccomp_args() -> list[str]:
    """``--seccomp-bpf`` where it works here without a word on stderr, else nothing.

    With it only the traced calls stop the tool; without it every call does, the
    interpreter's start-up included (a Python tool's migration ran about 1.7x slower
    under plain strace, 1.1x with the filter). Counting and ``-P`` are the same either
    way: the filter only spares strace the calls it would not have shown."""
    return ["--seccomp-bpf"] if _seccomp_quiet() else []


@functools.cache
def _seccomp_quiet() -> bool:
    strace = shutil.which("strace")
    if strace is None:
        return False
    probe = subprocess.run(
        [strace, "-f", "-qqq", "--seccomp-bpf", "-o", os.devnull, "-e", "trace=openat", "true"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0 and not probe.stderr.strip()


# How much of each string enumerate() records of sends: enough of a statement to name it.
_TEXT_SHOWN = ("-s", "120")


def _inject_args(injection: Injection, hold: str = _PARK) -> list[str]:
    name = injection.syscall
    when = "1+" if injection.all_threads else str(injection.nth)
    spec = f"inject={name}:delay_enter={hold}:when={when}"
    filters = [arg for path in injection.paths for arg in ("-P", path)]
    return ["-e", f"trace={name}", *filters, "-e", spec]


class _ParkedWatcher:
    """True once a traced process sits at the entry of the injected call.

    Three facts must hold: strace's output ends with an unfinished entry line of the
    injected syscall; that process has printed exactly ``nth`` such lines (strace
    prints and counts the same calls, so this is the injected one, not a call strace
    merely has not resumed yet); /proc shows the process in tracing stop ('t').
    """

    def __init__(self, trace_file: Path, injection: Injection) -> None:
        self.trace_file = trace_file
        self.injection = injection
        self._since: float | None = None

    def __call__(self, proc: subprocess.Popen[bytes], elapsed: float) -> bool:
        if not self._parked():
            self._since = None
            return False
        if self.injection.all_threads:
            return True  # held only briefly: kill now; the trace is checked afterwards
        if self._since is None:
            self._since = elapsed
        return elapsed - self._since >= _SETTLE

    def _parked(self) -> bool:
        try:
            text = self.trace_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return False
        last = text.rsplit("\n", 1)[-1]
        pid_text, _, call = last.strip().partition(" ")
        name = self.injection.syscall
        if not (pid_text.isdigit() and call.lstrip().startswith(f"{name}(")):
            return False
        who = r"\d+" if self.injection.all_threads else pid_text
        peer = self.injection.peer
        to = rf"\d+<TCP:\[[^\]]*->{re.escape(peer)}\]>" if peer else ""
        if to and not re.match(rf"\d+\s+{name}\({to}", last.strip()):
            return False
        entries = re.findall(rf"(?m)^{who}\s+{name}\({to}", text)
        return len(entries) == self.injection.nth and _tracing_stopped(int(pid_text))


def _tracing_stopped(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # the state follows the parenthesised command name, which may itself hold ") "
    return stat.rpartition(") ")[2][:1] == "t"
