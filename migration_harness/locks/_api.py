"""Hold a lock from a separate process, in a named style, release it or crash its holder."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import migration_harness
from migration_harness._platform import StrPath
from migration_harness.errors import MigrationHarnessError
from migration_harness.locks._styles import check_supported
from migration_harness.proc import (
    DEFAULT_GRACE,
    Capture,
    ExecutableNotFound,
    StopReport,
    kill_tree,
    run,
    start_captured,
    stop_process,
    stoppable_popen_kwargs,
)

#: How long a holder's output pipes may stay open after it exited (a grandchild).
OUTPUT_DRAIN_TIMEOUT = 5.0
#: Extra seconds the parent allows a holder to start Python before it can even
#: try the lock; generous because CI machines are slow and shared.
STARTUP_SLACK_S = 30.0
_HELD_LINE = re.compile(r"^held ")


class LockHolderError(MigrationHarnessError, RuntimeError):
    """The holder could not take, keep or give back the lock; the message has its output."""


class LockHolder:
    """A separate process holding a lock. Use :func:`hold_lock` to make one.

    ``release()`` gives the lock back the style's normal way; ``crash()`` kills the
    holder hard (SIGKILL / TerminateProcess) and leaves what a crash leaves: kernel
    locks vanish, a mkdir directory or pid file stays behind.

    A ``command`` holder still running after its release command is stopped by the
    package's stop chain (:func:`migration_harness.proc.stop_process`): an interrupt,
    then a request to terminate, to its whole process group, then a kill of its tree;
    ``grace`` is the total time those polite steps may take, as for a ``Daemon``;
    :attr:`stop_report` then says how that stop ended.
    """

    def __init__(
        self,
        style: str,
        path: Path | None,
        proc: subprocess.Popen[bytes],
        output: Capture,
        *,
        release_command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: StrPath | None = None,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        self.style = style
        self.path = path
        self._proc = proc
        self._output = output
        self._release_command = list(release_command) if release_command else None
        self._env = env
        self._cwd = cwd
        self._grace = grace
        self.state = "held"  # -> "released" | "crashed"
        self.stop_report: StopReport | None = None

    @property
    def pid(self) -> int:
        """The holder process's pid."""
        return self._proc.pid

    @property
    def alive(self) -> bool:
        """Whether the holder process is still running."""
        return self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    @property
    def output(self) -> str:
        """The holder's stdout and stderr so far, labelled."""
        return self._output.labelled()

    def release(self, *, timeout: float = 30.0) -> None:
        """Give the lock back and let the holder exit; raises LockHolderError if it can't."""
        if self.state != "held":
            raise LockHolderError(f"{self._what()} was already {self.state}")
        if self.style == "command":
            self._release_command_style(timeout)
        else:
            self._release_script_style(timeout)
        self.state = "released"
        self._finish()

    def crash(self) -> None:
        """Kill the holder and its children hard, leaving a stale lock where the style can."""
        if self.state != "held":
            raise LockHolderError(f"{self._what()} was already {self.state}")
        kill_tree(self._proc.pid)
        self._proc.wait(timeout=STARTUP_SLACK_S)
        self.state = "crashed"
        self._finish()

    def close(self) -> None:
        """Teardown: release if still held (kill if that fails); never raises."""
        if self.state == "held":
            try:
                self.release()
            except (LockHolderError, OSError, subprocess.SubprocessError):
                self.state = "released"
        if self._proc.poll() is None:
            kill_tree(self._proc.pid)
            self._proc.wait(timeout=STARTUP_SLACK_S)
        self._finish()

    def _release_script_style(self, timeout: float) -> None:
        if self._proc.poll() is not None:
            raise LockHolderError(
                f"{self._what()} exited early with status {self._proc.returncode}:\n{self.output}"
            )
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(b"release\n")
            self._proc.stdin.close()
        except OSError as exc:  # the holder died between poll() and write()
            raise LockHolderError(f"{self._what()} is gone ({exc}):\n{self.output}") from exc
        try:
            code = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(self._proc.pid)
            raise LockHolderError(
                f"{self._what()} did not release within {timeout:g}s:\n{self.output}"
            ) from None
        if code != 0:
            raise LockHolderError(
                f"{self._what()} failed to release (status {code}):\n{self.output}"
            )

    def _release_command_style(self, timeout: float) -> None:
        if self._release_command is not None:
            try:
                done = run(self._release_command, env=self._env, cwd=self._cwd, timeout=timeout)
            except ExecutableNotFound as exc:
                self._stop()
                raise LockHolderError(f"the lock's release command: {exc}") from None
            if not done.ok:
                self._stop()
                raise LockHolderError(f"the lock's release command failed:\n{done.describe()}")
        # With or without a release command, a holder still running is stopped
        # politely, so nothing outlives the test.
        self._stop()

    def _stop(self) -> None:
        self.stop_report = stop_process(self._proc, grace=self._grace)

    def _finish(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        self._output.finish(OUTPUT_DRAIN_TIMEOUT)

    def _what(self) -> str:
        where = f" on {self.path}" if self.path is not None else ""
        return f"{self.style} lock holder{where} (pid {self._proc.pid})"

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LockHolder {self.style} {self.path} pid={self.pid} {self.state}>"


def _holder_env(env: Mapping[str, str] | None) -> dict[str, str]:
    # The holder runs `-m migration_harness.locks._holder`: make sure it imports this
    # very copy of the package, installed or not.
    merged = dict(os.environ if env is None else env)
    package_root = str(Path(migration_harness.__file__).resolve().parent.parent)
    current = merged.get("PYTHONPATH")
    merged["PYTHONPATH"] = package_root + (os.pathsep + current if current else "")
    return merged


def _holder_argv(style: str, path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "migration_harness.locks._holder", style, str(path), *extra]


def _start_and_wait(
    args: Sequence[str],
    ready: re.Pattern[str],
    *,
    env: Mapping[str, str],
    cwd: StrPath | None,
    timeout: float,
    what: str,
    stoppable: bool = False,
) -> tuple[subprocess.Popen[bytes], Capture]:
    options = stoppable_popen_kwargs() if stoppable else {}
    try:
        started = start_captured(
            args, env=env, cwd=cwd, stdin=subprocess.PIPE, lines=True, **options
        )
    except ExecutableNotFound as exc:
        raise LockHolderError(f"{what}: {exc}") from None
    proc, output = started.proc, started.output
    if output.wait_for(ready, timeout=timeout):
        return proc, output
    if output.ended:
        # EOF on both pipes comes a moment before the exit status does.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STARTUP_SLACK_S)
    if proc.poll() is None:
        kill_tree(proc.pid)
        proc.wait(timeout=STARTUP_SLACK_S)
        output.finish(OUTPUT_DRAIN_TIMEOUT)
        raise LockHolderError(
            f"{what} did not report the lock held (a line matching {ready.pattern!r}) "
            f"within {timeout:g}s:\n{output.labelled()}"
        )
    output.finish(OUTPUT_DRAIN_TIMEOUT)
    raise LockHolderError(f"{what} exited with status {proc.returncode}:\n{output.labelled()}")


def hold_lock(
    style: str,
    path: StrPath | None = None,
    *,
    command: Sequence[str] | None = None,
    ready: str | None = None,
    release_command: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
    timeout: float = 10.0,
) -> LockHolder:
    """Take a lock in ``style`` from a separate process; returns once it is held.

    File styles need ``path``; the holder waits up to ``timeout`` seconds for the
    lock to be free (plus time to start Python). ``style="command"`` runs
    ``command`` (the target's own hold command) and waits up to ``timeout`` for a
    line of its output matching the regex ``ready``; ``release_command`` is run on
    release, after which the holder is stopped politely if still running.

    Raises :class:`UnsupportedLockStyle` when the style cannot exist on this OS,
    :class:`LockHolderError` (with the holder's output) when the lock is not held in time.
    """
    check_supported(style)
    if style == "command":
        if not command or ready is None:
            raise ValueError("lock style 'command' needs command=[...] and ready='<regex>'")
        proc, output = _start_and_wait(
            command,
            re.compile(ready),
            env=dict(env) if env is not None else dict(os.environ),
            cwd=cwd,
            timeout=timeout,
            what=f"lock command {list(command)}",
            stoppable=True,
        )
        lock_path = Path(path) if path is not None else None
        return LockHolder(
            style, lock_path, proc, output, release_command=release_command, env=env, cwd=cwd
        )
    if path is None:
        raise ValueError(f"lock style {style!r} needs the lock's path")
    lock_path = Path(path)
    proc, output = _start_and_wait(
        _holder_argv(style, lock_path, "--wait", f"{timeout:g}"),
        _HELD_LINE,
        env=_holder_env(env),
        cwd=cwd,
        timeout=timeout + STARTUP_SLACK_S,
        what=f"{style} lock holder on {lock_path}",
    )
    return LockHolder(style, lock_path, proc, output)


def probe_lock(
    style: str, path: StrPath, *, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> bool:
    """From a separate process, try ``style`` on ``path`` once: True if it could be taken.

    Use it to check that a tool holds its lock while it runs (expect False),
    and that it let go afterwards (expect True). The probe releases at once.
    """
    check_supported(style)
    if style == "command":
        raise ValueError("probe_lock cannot probe a 'command' lock: it is not a file")
    done = subprocess.run(
        _holder_argv(style, Path(path), "--probe"),
        env=_holder_env(env),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    verdict = done.stdout.decode(errors="replace").strip()
    if verdict not in ("acquired", "busy"):
        raise LockHolderError(
            f"probing the {style} lock on {path} failed (status {done.returncode}):\n"
            f"{done.stderr.decode(errors='replace')}"
        )
    return verdict == "acquired"
