"""``Daemon``: a long-running process with readiness and a graceful, bounded stop.

The stop chain, like nox's ``shutdown_process``, escalates in short named steps,
the same on every OS: the target's own stop command (the only polite way that
works everywhere), an interrupt (SIGINT to the process group on POSIX, Ctrl+C
to the daemon's console on Windows), a request to terminate (SIGTERM; Ctrl+Break),
then a kill of the whole process tree. The polite steps share ``grace`` by
:data:`GRACE_SHARES`.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from migration_harness.errors import MigrationHarnessError
from migration_harness.proc import _track
from migration_harness.proc._output import OutputLog, StreamReader
from migration_harness.proc._ready import Readiness, ReadyProbe, as_readiness
from migration_harness.proc._run import StrPath, format_command, popen, run

if sys.platform == "win32":
    from migration_harness.proc import _winconsole as _signals

    def _daemon_popen_kwargs() -> dict[str, Any]:
        return _signals.daemon_popen_kwargs()
else:
    from migration_harness.proc import _posix as _signals

    def _daemon_popen_kwargs() -> dict[str, Any]:
        return {}  # popen's new session is all a daemon needs


StopStep = Literal["command", "interrupt", "terminate", "kill", "already-exited"]

#: The default total time the polite steps may take before the tree is killed.
DEFAULT_GRACE = 3.0
#: How ``grace`` is split between the polite steps, on every OS. Each step that
#: runs gets its weight's part of the grace still left, over the steps still to
#: come, so the shares of the steps that run add up to the grace: 1.5 s, 1 s and
#: 0.5 s with a stop command, 2 s and 1 s without one. A step that ends early
#: (a stop command that failed, a signal that could not be sent) leaves the rest
#: of its share to the steps after it.
GRACE_SHARES: Mapping[StopStep, float] = {"command": 3.0, "interrupt": 2.0, "terminate": 1.0}
#: How long to wait for the tree to disappear after the kill (not part of grace).
KILL_TIMEOUT = 3.0
#: How often ``start`` re-checks port/file/callable readiness and the process.
POLL_INTERVAL = 0.02
#: After the daemon exits, how long its output pipes may stay open (a grandchild).
OUTPUT_DRAIN_TIMEOUT = 1.0
#: Lines of output shown in a start error.
ERROR_TAIL_LINES = 40


class DaemonStartError(MigrationHarnessError, RuntimeError):
    """The daemon exited early or was not ready in time. Carries its output."""

    def __init__(self, message: str, *, output: str, returncode: int | None) -> None:
        super().__init__(message)
        self.output = output
        self.returncode = returncode


@dataclass(frozen=True)
class StopReport:
    """How a daemon stop ended: the step that ended it, its exit code, and how long it took.

    ``notes`` says, for each step before it, why that one did not end the daemon
    (``"command: exit code 1: ..."``, ``"interrupt: CTRL_C_EVENT could not be sent:
    ..."``, ``"interrupt: still running after 2.00 s"``). ``shares`` is the part of
    the grace each polite step was given, in order: ``(("interrupt", 2.0),
    ("terminate", 1.0))``.
    """

    step: StopStep
    returncode: int | None
    duration: float
    notes: tuple[str, ...] = ()
    shares: tuple[tuple[StopStep, float], ...] = ()


class Daemon:
    """A background process started in its own process group, stopped gracefully.

    ``ready`` is a :class:`ReadyLine`, :class:`ReadyPort`, :class:`ReadyFile`,
    :class:`ReadyWhen`, a regex string (a ReadyLine on either stream) or None
    (ready as soon as it is started). ``stop_command`` is run first by
    :meth:`stop`; ``grace`` bounds all polite stop steps together.
    """

    def __init__(
        self,
        args: Sequence[StrPath],
        *,
        env: Mapping[str, str] | None = None,
        cwd: StrPath | None = None,
        ready: Readiness | str | re.Pattern[str] | None = None,
        start_timeout: float = 30.0,
        stop_command: Sequence[StrPath] | None = None,
        grace: float = DEFAULT_GRACE,
        name: str | None = None,
    ) -> None:
        self.args = [os.fspath(a) for a in args]
        if not self.args:
            raise ValueError("Daemon needs a command: args is empty")
        self.env = None if env is None else dict(env)
        self.cwd = cwd
        self.ready = as_readiness(ready)
        self.start_timeout = start_timeout
        self.stop_command = None if stop_command is None else [os.fspath(a) for a in stop_command]
        self.grace = grace
        self.name = name or os.path.basename(self.args[0])
        self.stop_report: StopReport | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = OutputLog()
        self._readers: list[StreamReader] = []
        self._exited = threading.Event()

    # -- state -----------------------------------------------------------------

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"daemon {self.name!r} was never started")
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def output(self) -> str:
        """Everything it printed so far, stdout and stderr lines in arrival order."""
        return self._log.text()

    @property
    def stdout(self) -> str:
        return self._readers[0].text() if self._readers else ""

    @property
    def stderr(self) -> str:
        return self._readers[1].text() if self._readers else ""

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"exit {self.returncode}"
        return f"<Daemon {self.name} pid={self._proc.pid if self._proc else None} {state}>"

    # -- start -----------------------------------------------------------------

    def start(self) -> Daemon:
        """Start and return once ready; :class:`DaemonStartError` if it exits or times out."""
        if self._proc is not None:
            raise RuntimeError(f"daemon {self.name!r} was already started")
        proc: subprocess.Popen[bytes] = popen(
            self.args,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **_daemon_popen_kwargs(),
        )
        self._proc = proc
        # A thread blocked in wait() learns of the exit at once; Popen.wait(timeout)
        # polls with growing sleeps, which would add milliseconds to every stop.
        threading.Thread(
            target=self._wait_for_exit, name=f"{self.name}-waiter", daemon=True
        ).start()
        assert proc.stdout is not None and proc.stderr is not None  # PIPE above
        self._readers = [
            StreamReader(proc.stdout, "stdout", self._log),
            StreamReader(proc.stderr, "stderr", self._log),
        ]
        self._wait_until_ready(proc)
        return self

    def _wait_for_exit(self) -> None:
        assert self._proc is not None
        with contextlib.suppress(Exception):
            self._proc.wait()
        self._exited.set()
        with self._log.changed:  # wake start() at once: an early exit is an error now
            self._log.changed.notify_all()

    def _exited_within(self, timeout: float) -> bool:
        return self._exited.wait(max(0.0, timeout)) and self._proc is not None

    def _wait_until_ready(self, proc: subprocess.Popen[bytes]) -> None:
        if self.ready is None:
            return
        probe = ReadyProbe(self._log, proc.pid)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.ready.is_ready(probe):
                return
            if self._exited.is_set():
                self.stop()  # collects the rest of its output, kills what it left behind
                raise self._start_error(f"exited with code {proc.returncode} before it was ready")
            if time.monotonic() >= deadline:
                report = self.stop()
                raise self._start_error(
                    f"was not ready after {self.start_timeout} s (stopped: {report.step})"
                )
            with self._log.changed:
                self._log.changed.wait(POLL_INTERVAL)

    def _start_error(self, what: str) -> DaemonStartError:
        lines = self.output.splitlines()
        shown = lines[-ERROR_TAIL_LINES:]
        waited = self.ready.describe() if self.ready is not None else "start"
        message = "\n".join(
            [
                f"daemon {self.name!r} {what}",
                f"command: {format_command(self.args)}",
                f"cwd: {self.cwd if self.cwd is not None else os.getcwd()}",
                f"waiting for: {waited}",
                f"--- output (last {len(shown)} of {len(lines)} lines) ---"
                if lines
                else "--- output: (empty) ---",
                *shown,
            ]
        )
        return DaemonStartError(message, output=self.output, returncode=self.returncode)

    # -- stop ------------------------------------------------------------------

    def stop(self) -> StopReport:
        """Stop the daemon and its whole tree; report which step ended it.

        Safe to call twice (the second call reports "already-exited").
        """
        started = time.monotonic()
        proc = self._proc
        chain = _StopChain(self.grace)
        if proc is None or proc.poll() is not None:
            step: StopStep = "already-exited"
        else:
            step = self._stop_chain(proc, chain)
        if proc is not None:
            _track.kill_tree(proc.pid, timeout=KILL_TIMEOUT)  # what the daemon left behind
            self._join_readers()
        report = StopReport(
            step=step,
            returncode=None if proc is None else proc.poll(),
            duration=time.monotonic() - started,
            notes=tuple(chain.notes),
            shares=tuple(chain.shares),
        )
        self.stop_report = report
        return report

    def _stop_chain(self, proc: subprocess.Popen[bytes], chain: _StopChain) -> StopStep:
        steps: list[tuple[StopStep, Callable[[], None]]] = [
            (_step(name), send) for name, send in _signals.polite_steps(proc.pid)
        ]
        names = [name for name, _ in steps]
        chain.plan(["command", *names] if self.stop_command is not None else names)
        if self.stop_command is not None and self._run_stop_command(proc, chain):
            return "command"
        for index, (name, send) in enumerate(steps):
            share = chain.share(name)
            try:
                send()
            except OSError as exc:
                chain.notes.append(f"{name}: {exc}")
                if index < len(steps) - 1:
                    chain.done(name, 0.0, 0.0)  # nothing to wait for: the next step gets it
                    continue
            chain.done(name, share, share)
            if self._exited_within(share):
                return name
            chain.notes.append(f"{name}: still running after {share:.2f} s")
        _track.kill_tree(proc.pid, timeout=KILL_TIMEOUT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(KILL_TIMEOUT)
        return "kill"

    def _run_stop_command(self, proc: subprocess.Popen[bytes], chain: _StopChain) -> bool:
        assert self.stop_command is not None
        share = chain.share("command")
        started = time.monotonic()
        deadline = started + share
        try:
            result = run(self.stop_command, env=self.env, cwd=self.cwd, timeout=share)
        except OSError as exc:
            chain.notes.append(f"command: could not start: {exc}")
            chain.done("command", share, 0.0)
            return False
        if not result.ok:
            chain.notes.append(f"command: {result._outcome()}: {result.stderr.strip()}".rstrip())
            chain.done("command", share, time.monotonic() - started)
            return proc.poll() is not None  # no point waiting for a stop that failed
        chain.done("command", share, share)
        if self._exited_within(deadline - time.monotonic()):
            return True
        chain.notes.append(f"command: succeeded, but the daemon still ran after {share:.2f} s")
        return False

    def _join_readers(self) -> None:
        for reader in self._readers:
            reader.join(OUTPUT_DRAIN_TIMEOUT)
            reader.close()

    # -- context manager ---------------------------------------------------------

    def __enter__(self) -> Daemon:
        return self if self._proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _StopChain:
    """The grace of one stop: what each polite step gets, what it used, and notes."""

    def __init__(self, grace: float) -> None:
        self.left = grace
        self.to_come: list[StopStep] = []
        self.shares: list[tuple[StopStep, float]] = []
        self.notes: list[str] = []

    def plan(self, steps: Sequence[StopStep]) -> None:
        self.to_come = list(steps)

    def share(self, step: StopStep) -> float:
        """``step``'s part of the grace left: its weight over those of the steps to come."""
        weights = sum(GRACE_SHARES[name] for name in self.to_come)
        return self.left * GRACE_SHARES[step] / weights if weights else 0.0

    def done(self, step: StopStep, given: float, used: float) -> None:
        """``step`` was given ``given`` seconds and used ``used`` of the grace."""
        self.shares.append((step, given))
        self.to_come.remove(step)
        self.left = max(0.0, self.left - used)


def _step(name: str) -> StopStep:
    if name == "interrupt":
        return "interrupt"
    if name == "terminate":
        return "terminate"
    raise ValueError(f"unknown stop step {name!r}")
