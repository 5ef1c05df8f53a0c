"""``Daemon``: a long-running process with readiness and a graceful, bounded stop.

It stops by the package's one stop chain (:mod:`migration_harness.proc._stop`):
its own stop command, an interrupt, a request to terminate, then a kill of the
whole tree; ``grace`` is the total time the polite steps may take.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType

from migration_harness._platform import StrPath
from migration_harness.errors import MigrationHarnessError
from migration_harness.proc._output import Capture
from migration_harness.proc._ready import Readiness, ReadyProbe, as_readiness
from migration_harness.proc._run import format_command, start_captured
from migration_harness.proc._stop import (
    DEFAULT_GRACE,
    StopReport,
    stop_process,
    stoppable_popen_kwargs,
)

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
        self._capture: Capture | None = None
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
        return self._capture.log.text() if self._capture else ""

    @property
    def stdout(self) -> str:
        return self._capture.stdout.text() if self._capture else ""

    @property
    def stderr(self) -> str:
        return self._capture.stderr.text() if self._capture else ""

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"exit {self.returncode}"
        return f"<Daemon {self.name} pid={self._proc.pid if self._proc else None} {state}>"

    # -- start -----------------------------------------------------------------

    def start(self) -> Daemon:
        """Start and return once ready; :class:`DaemonStartError` if it exits or times out."""
        if self._proc is not None:
            raise RuntimeError(f"daemon {self.name!r} was already started")
        started = start_captured(
            self.args, env=self.env, cwd=self.cwd, lines=True, **stoppable_popen_kwargs()
        )
        self._proc = proc = started.proc
        self._capture = capture = started.output
        # A thread blocked in wait() learns of the exit at once; Popen.wait(timeout)
        # polls with growing sleeps, which would add milliseconds to every stop.
        threading.Thread(
            target=self._wait_for_exit, name=f"{self.name}-waiter", daemon=True
        ).start()
        self._wait_until_ready(proc, capture)
        return self

    def _wait_for_exit(self) -> None:
        assert self._proc is not None
        with contextlib.suppress(Exception):
            self._proc.wait()
        self._exited.set()
        assert self._capture is not None
        with self._capture.log.changed:  # wake start() at once: an early exit is an error now
            self._capture.log.changed.notify_all()

    def _exited_within(self, timeout: float) -> bool:
        return self._exited.wait(max(0.0, timeout)) and self._proc is not None

    def _wait_until_ready(self, proc: subprocess.Popen[bytes], capture: Capture) -> None:
        if self.ready is None:
            return
        probe = ReadyProbe(capture.log, proc.pid)
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
            with capture.log.changed:
                capture.log.changed.wait(POLL_INTERVAL)

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
        if self._proc is None:
            report = StopReport(step="already-exited", returncode=None, duration=0.0)
        else:
            report = stop_process(
                self._proc,
                grace=self.grace,
                stop_command=self.stop_command,
                env=self.env,
                cwd=self.cwd,
                exited_within=self._exited_within,
            )
            assert self._capture is not None
            self._capture.finish(OUTPUT_DRAIN_TIMEOUT)
        self.stop_report = report
        return report

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
