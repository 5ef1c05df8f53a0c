"""``run()`` and ``popen()``: start commands in their own process group, tracked.

``run`` captures both streams concurrently, kills the whole process tree on
timeout, and returns a :class:`RunResult` whose failure messages say what ran,
where, with which environment differences, and what it printed.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from migration_harness._platform import StrPath
from migration_harness.proc import _track
from migration_harness.proc._output import Capture
from migration_harness.proc._spawn import spawn
from migration_harness.proc._track import Leftover, TrackedProcess
from migration_harness.proc._which import ExecutableNotFound, which

#: Lines of each stream that :meth:`RunResult.describe` shows.
TAIL_LINES = 40
#: After the command exits, how long to wait for its pipes to reach end-of-file.
#: A grandchild that inherited them can keep them open; we stop waiting then.
PIPE_DRAIN_TIMEOUT = 2.0
#: After the command exits, how long its pipes get to close before we look for
#: a process of its own that still runs (and holds them): then we stop reading.
HOLDER_CHECK_DELAY = 0.1

Stream = Literal["stdout", "stderr", "both"]


@dataclass
class RunResult:
    """What a finished (or timed-out) command did."""

    args: list[str]
    cwd: str
    env_diff: dict[str, str | None]
    returncode: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    timeout: float | None = None
    #: Set by :func:`start_together` only: wall-clock time of the barrier release,
    #: and how long after it this process was let go (seconds).
    released_at: float | None = None
    release_skew: float | None = None
    #: Processes the command started that still ran after it exited (a detached
    #: background child, a daemon it spawned): pid and command line of each.
    #: :func:`run` does not kill them; the pytest plugin's teardown does.
    left_running: list[Leftover] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exit status 0 and no timeout."""
        return self.returncode == 0 and not self.timed_out

    @property
    def output(self) -> str:
        """stdout followed by stderr."""
        return self.stdout + self.stderr

    def lines(self, stream: Stream = "both") -> list[str]:
        """The captured lines of ``stream`` ("stdout", "stderr" or "both")."""
        if stream == "stdout":
            return self.stdout.splitlines()
        if stream == "stderr":
            return self.stderr.splitlines()
        if stream == "both":
            return self.stdout.splitlines() + self.stderr.splitlines()
        raise ValueError(f"stream must be 'stdout', 'stderr' or 'both', not {stream!r}")

    def fnmatch_lines(self, patterns: Sequence[str], stream: Stream = "both") -> None:
        """Assert that glob ``patterns`` match lines of ``stream``, in this order.

        On mismatch raises ``AssertionError`` with the match log and :meth:`describe`.
        """
        self._match("fnmatch_lines", patterns, stream)

    def re_match_lines(self, patterns: Sequence[str], stream: Stream = "both") -> None:
        """Like :meth:`fnmatch_lines` with regular expressions (``re.match``)."""
        self._match("re_match_lines", patterns, stream)

    def _match(self, how: str, patterns: Sequence[str], stream: Stream) -> None:
        import pytest  # late: the guardian imports this package without needing pytest

        matcher = pytest.LineMatcher(self.lines(stream))
        try:
            getattr(matcher, how)(list(patterns))
        except pytest.fail.Exception as exc:
            raise AssertionError(f"{exc.msg}\n\n{self.describe()}") from None

    def assert_ok(self) -> RunResult:
        """Raise ``AssertionError`` with :meth:`describe` unless :attr:`ok`; else return self."""
        if not self.ok:
            raise AssertionError(f"command failed\n{self.describe()}")
        return self

    def describe(self) -> str:
        """A report for a failure message: command, cwd, env, outcome, duration, output tails."""
        parts = [
            f"command: {format_command(self.args)}",
            f"cwd: {self.cwd}",
            *_describe_env(self.env_diff),
            f"result: {self._outcome()}",
            f"duration: {self.duration:.3f} s",
            *_describe_left_running(self.left_running),
            _tail("stdout", self.stdout),
            _tail("stderr", self.stderr),
        ]
        return "\n".join(parts)

    def _outcome(self) -> str:
        if self.timed_out:
            return (
                f"timed out after {self.timeout} s; the whole process tree was killed "
                f"(exit code {self.returncode})"
            )
        return f"exit code {self.returncode}{_windows_status(self.returncode)}"


def format_command(args: Sequence[str]) -> str:
    """``args`` as the user would type them in this OS's shell."""
    if sys.platform == "win32":
        return subprocess.list2cmdline(list(args))
    return shlex.join(args)


def env_diff(
    env: Mapping[str, str] | None,
    base: Mapping[str, str] | None = None,
    *,
    windows: bool = sys.platform == "win32",
) -> dict[str, str | None]:
    """Keys of ``env`` that differ from ``base`` (default ``os.environ``) with their value,
    and keys ``env`` removed (None), sorted. With ``windows`` keys are compared without
    case, as Windows does (``Path`` is ``PATH``); the names shown are as ``env`` spells them.
    """
    if env is None:
        return {}
    ours = _normalised(os.environ if base is None else base, windows)
    theirs = _normalised(env, windows)
    diff: dict[str, str | None] = {}
    for key, (name, value) in theirs.items():
        if key not in ours or ours[key][1] != value:
            diff[name] = value
    for key, (name, _) in ours.items():
        if key not in theirs:
            diff[name] = None
    return dict(sorted(diff.items()))


def _normalised(env: Mapping[str, str], fold: bool) -> dict[str, tuple[str, str]]:
    return {(k.upper() if fold else k): (k, v) for k, v in env.items()}


def _describe_env(diff: dict[str, str | None]) -> list[str]:
    if not diff:
        return ["env: same as os.environ"]
    lines = ["env (differences from os.environ):"]
    for key, value in diff.items():
        if value is None:
            lines.append(f"  -{key} (removed)")
        else:
            sign = "~" if key in os.environ else "+"
            lines.append(f"  {sign}{key}={value}")
    return lines


def _describe_left_running(leftovers: list[Leftover]) -> list[str]:
    if not leftovers:
        return []
    return [
        "still running after it exited:",
        *(f"  {leftover.describe()}" for leftover in leftovers),
    ]


def _tail(name: str, text: str) -> str:
    lines = text.splitlines()
    if not lines:
        return f"--- {name}: (empty) ---"
    shown = lines[-TAIL_LINES:]
    count = f"last {len(shown)} of {len(lines)} lines" if len(lines) > len(shown) else "all"
    return "\n".join([f"--- {name} ({count}) ---", *shown])


def resolve_args(args: Sequence[StrPath], env: Mapping[str, str] | None) -> list[str]:
    """``args`` as strings, with a bare ``args[0]`` found on ``env``'s PATH.

    Without ``env`` the command is left to the OS (which searches our own PATH).
    Raises :class:`migration_harness.env.ExecutableNotFound` if it is not on that PATH.
    """
    argv = [os.fspath(a) for a in args]
    if not argv:
        raise ValueError("no command given: args is empty")
    if env is None or _has_directory(argv[0]):
        return argv
    path = _env_get(env, "PATH")
    found = which(argv[0], path, pathext=_env_get(env, "PATHEXT"))
    if found is None:
        raise ExecutableNotFound(argv[0], path)
    return [found, *argv[1:]]


def _has_directory(name: str) -> bool:
    return os.sep in name or (os.altsep is not None and os.altsep in name)


def _env_get(env: Mapping[str, str], key: str) -> str | None:
    if sys.platform == "win32":
        return next((v for k, v in env.items() if k.upper() == key), None)
    return env.get(key)


def popen(
    args: Sequence[StrPath],
    *,
    env: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
    **kwargs: Any,
) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` in a new process group (console group on Windows), tracked.

    A bare ``args[0]`` is resolved against ``env["PATH"]`` when ``env`` is given.
    Every process started this way, with everything it starts, is killed by the
    pytest plugin at the end of the test (and by :func:`kill_tree`).
    """
    proc, _ = popen_tracked(args, env=env, cwd=cwd, **kwargs)
    return proc


def popen_tracked(
    args: Sequence[StrPath],
    *,
    env: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
    **kwargs: Any,
) -> tuple[subprocess.Popen[Any], TrackedProcess]:
    argv = resolve_args(args, env)
    options = _track.popen_kwargs()
    # A caller's creationflags replace the new process group: a Daemon on Windows
    # gets a console of its own instead, where Ctrl+C must stay enabled.
    options.update(kwargs)
    serial = _track.reserve()
    proc: subprocess.Popen[Any] = spawn(argv, env=_track.marked(env, serial), cwd=cwd, **options)
    return proc, _track.track(proc, argv, serial)


#: Exit codes from here up are Windows status codes (NTSTATUS errors): the process was
#: ended by the system, not by its own exit call.
_WINDOWS_STATUS_ERRORS = 0xC0000000


def _windows_status(returncode: int) -> str:
    """A note for a Windows status code (0xC0000005: a crash; 0xC0000142: could not start),
    which reads better in hex; POSIX signals are negative and get none."""
    if returncode < _WINDOWS_STATUS_ERRORS:
        return ""
    return f" (0x{returncode:08X}: a Windows status code; the process crashed or could not start)"


def run(
    args: Sequence[StrPath],
    *,
    env: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
    timeout: float | None = 60.0,
    input: bytes | str | None = None,
) -> RunResult:
    """Run ``args`` to completion and capture what it printed.

    Never raises for a non-zero exit. On timeout the whole process tree is
    killed and the result has ``timed_out=True``. stdout and stderr are drained
    concurrently, so megabytes of output cannot deadlock.
    """
    started = start_captured(
        args, env=env, cwd=cwd, stdin=subprocess.DEVNULL if input is None else subprocess.PIPE
    )
    if input is not None:
        _feed_stdin(started.proc.stdin, input)
    timed_out = _wait_or_kill(started.proc, timeout)
    return started.result(timed_out=timed_out, timeout=timeout)


def start_captured(
    args: Sequence[StrPath],
    *,
    env: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
    stdin: Any = subprocess.DEVNULL,
    lines: bool = False,
    **kwargs: Any,
) -> Started:
    """:func:`popen` with stdout and stderr read into a :class:`Capture` (``lines``: line
    by line too, for :meth:`Capture.wait_for`); ``kwargs`` go to ``Popen``."""
    at = time.monotonic()
    proc, entry = popen_tracked(
        args,
        env=env,
        cwd=cwd,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )
    return Started(proc, entry, Capture(proc, lines=lines), env, cwd, at)


@dataclass
class Started:
    """A process started by :func:`start_captured`, with how it was started."""

    proc: subprocess.Popen[bytes]
    entry: TrackedProcess
    output: Capture
    env: Mapping[str, str] | None
    cwd: StrPath | None
    at: float

    def result(
        self,
        *,
        timed_out: bool,
        timeout: float | None,
        args: list[str] | None = None,
        duration: float | None = None,
        released_at: float | None = None,
        release_skew: float | None = None,
    ) -> RunResult:
        """The :class:`RunResult` of the exited process, its output read to the end (see
        :func:`finish_reading`); ``args`` and ``duration`` default to what ran, and since
        when."""
        left_running = finish_reading(self.output, self.entry)
        return RunResult(
            args=list(self.entry.cmdline) if args is None else args,
            cwd=os.fspath(self.cwd) if self.cwd is not None else os.getcwd(),
            env_diff=env_diff(self.env),
            returncode=int(self.proc.returncode),
            stdout=self.output.stdout.text(),
            stderr=self.output.stderr.text(),
            duration=time.monotonic() - self.at if duration is None else duration,
            timed_out=timed_out,
            timeout=timeout,
            released_at=released_at,
            release_skew=release_skew,
            left_running=left_running,
        )


def finish_reading(output: Capture, entry: TrackedProcess) -> list[Leftover]:
    """Read the exited command's pipes to their end, unless a process of its own keeps them
    open: then stop at once with what was read. Returns what of it still runs."""
    if output.join(HOLDER_CHECK_DELAY):
        left_running = _track.still_running(entry)
    else:
        left_running = _track.still_running(entry)
        # A holder we know of would keep the pipe open as long as it lives; only an
        # unknown one (escaped every marker) is worth the drain timeout.
        if not left_running:
            output.join(PIPE_DRAIN_TIMEOUT)
    output.close()
    return left_running


def _wait_or_kill(proc: subprocess.Popen[Any], timeout: float | None) -> bool:
    """Wait for ``proc``; on timeout (or Ctrl-C) kill its tree. True if it timed out."""
    try:
        _track.wait(proc, timeout)
        return False
    except subprocess.TimeoutExpired:
        _track.kill_tree(proc.pid)
        proc.wait()
        return True
    except BaseException:
        _track.kill_tree(proc.pid)
        raise


def _feed_stdin(pipe: IO[bytes] | None, data: bytes | str) -> None:
    """Write ``data`` from a thread: a child that reads late must not block us."""
    if pipe is None:
        return
    payload = data.encode() if isinstance(data, str) else data

    def feed() -> None:
        with contextlib.suppress(OSError):
            pipe.write(payload)
        with contextlib.suppress(OSError):
            pipe.close()

    threading.Thread(target=feed, name="harness-stdin", daemon=True).start()
