"""The stop chain: how a process started here is stopped, the same on every OS.

Like nox's ``shutdown_process``, it escalates in short named steps: the target's own
stop command (the only polite way that works everywhere), an interrupt (SIGINT to the
process group on POSIX, Ctrl+C to the process's console on Windows), a request to
terminate (SIGTERM; Ctrl+Break), then a kill of the whole process tree. ``grace`` is
the total time all polite steps may take together; they share it by
:data:`GRACE_SHARES`. :class:`~migration_harness.proc.Daemon` and the lock holders
stop this way.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from migration_harness._platform import StrPath
from migration_harness.proc import _track
from migration_harness.proc._run import run

if sys.platform == "win32":
    from migration_harness.proc import _winconsole as _signals

    def stoppable_popen_kwargs() -> dict[str, Any]:
        """``Popen`` keyword arguments that let the chain's signals reach the process."""
        return _signals.daemon_popen_kwargs()
else:
    from migration_harness.proc import _posix as _signals

    def stoppable_popen_kwargs() -> dict[str, Any]:
        """``Popen`` keyword arguments that let the chain's signals reach the process."""
        # With popen's new session a signal reaches the group; these keep it heard.
        return _signals.daemon_popen_kwargs()


StopStep = Literal["command", "interrupt", "terminate", "kill", "already-exited"]
#: Waits up to the given seconds for the process to exit; True if it did.
ExitWait = Callable[[float], bool]

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


@dataclass(frozen=True)
class StopReport:
    """How a stop ended: the step that ended it, its exit code, and how long it took.

    ``notes`` says, for each step before it, why that one did not end the process
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


def stop_process(
    proc: subprocess.Popen[Any],
    *,
    grace: float = DEFAULT_GRACE,
    stop_command: Sequence[StrPath] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
    exited_within: ExitWait | None = None,
) -> StopReport:
    """Stop ``proc`` and its whole tree within ``grace`` seconds of polite steps in total.

    ``proc`` must have been started by :func:`migration_harness.proc.popen` with
    :func:`stoppable_popen_kwargs`. ``stop_command`` (run with ``env`` and ``cwd``)
    is the first step; ``exited_within`` replaces ``proc.wait`` as the way to wait
    for the exit (a :class:`Daemon` has a thread that learns of it at once).
    """
    started = time.monotonic()
    chain = _StopChain(grace, exited_within or _waiter(proc))
    if proc.poll() is not None:
        step: StopStep = "already-exited"
    else:
        step = chain.run(proc, stop_command, env, cwd)
    _track.kill_tree(proc.pid, timeout=KILL_TIMEOUT)  # what it left behind
    return StopReport(
        step=step,
        returncode=proc.poll(),
        duration=time.monotonic() - started,
        notes=tuple(chain.notes),
        shares=tuple(chain.shares),
    )


def _waiter(proc: subprocess.Popen[Any]) -> ExitWait:
    def exited_within(timeout: float) -> bool:
        try:
            proc.wait(max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return False
        return True

    return exited_within


class _StopChain:
    """The grace of one stop: what each polite step gets, what it used, and notes."""

    def __init__(self, grace: float, exited_within: ExitWait) -> None:
        self.left = grace
        self.exited_within = exited_within
        self.to_come: list[StopStep] = []
        self.shares: list[tuple[StopStep, float]] = []
        self.notes: list[str] = []

    def run(
        self,
        proc: subprocess.Popen[Any],
        stop_command: Sequence[StrPath] | None,
        env: Mapping[str, str] | None,
        cwd: StrPath | None,
    ) -> StopStep:
        steps = [(_step(name), send) for name, send in _signals.polite_steps(proc.pid)]
        names = [name for name, _ in steps]
        self.to_come = ["command", *names] if stop_command is not None else names
        if stop_command is not None and self._command(proc, stop_command, env, cwd):
            return "command"
        for index, (name, send) in enumerate(steps):
            share = self.share(name)
            try:
                send()
            except OSError as exc:
                self.notes.append(f"{name}: {exc}")
                if index < len(steps) - 1:
                    self.done(name, 0.0, 0.0)  # nothing to wait for: the next step gets it
                    continue
            self.done(name, share, share)
            if self.exited_within(share):
                return name
            self.notes.append(f"{name}: still running after {share:.2f} s")
        _track.kill_tree(proc.pid, timeout=KILL_TIMEOUT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(KILL_TIMEOUT)
        return "kill"

    def _command(
        self,
        proc: subprocess.Popen[Any],
        command: Sequence[StrPath],
        env: Mapping[str, str] | None,
        cwd: StrPath | None,
    ) -> bool:
        """Run the stop command in its share; True if the process exited within it."""
        share = self.share("command")
        started = time.monotonic()
        deadline = started + share
        try:
            result = run(command, env=env, cwd=cwd, timeout=share)
        except OSError as exc:
            self.notes.append(f"command: could not start: {exc}")
            self.done("command", share, 0.0)
            return False
        if not result.ok:
            self.notes.append(f"command: {result._outcome()}: {result.stderr.strip()}".rstrip())
            self.done("command", share, time.monotonic() - started)
            return proc.poll() is not None  # no point waiting for a stop that failed
        self.done("command", share, share)
        if self.exited_within(deadline - time.monotonic()):
            return True
        self.notes.append(f"command: succeeded, but the process still ran after {share:.2f} s")
        return False

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
