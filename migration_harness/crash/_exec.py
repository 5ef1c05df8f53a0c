"""Run a command whose whole process tree may be killed at a chosen moment.

migration_harness.proc.run covers ordinary runs; crash backends need more: a watcher that
decides *while the command runs* that the crash moment has come, and a kill that
lands on every process of the tree at once (so a parent cannot react to its
child's death and tidy up before it dies too). That is why this module drives
the subprocess itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from migration_harness.proc import RunResult
from migration_harness.proc._spawn import spawn

POLL_INTERVAL = 0.01

# Called every POLL_INTERVAL with the running process and the seconds since start;
# returns True when the tree must be killed now.
Watcher = Callable[["subprocess.Popen[bytes]", float], bool]


@dataclass
class CrashRun:
    """What happened to one run: its ``result`` and whether the tree was killed."""

    result: RunResult
    killed: bool
    timed_out: bool


def env_diff(env: Mapping[str, str] | None) -> dict[str, str | None]:
    """Variables that differ from this process's environment (None: removed)."""
    if env is None:
        return {}
    diff: dict[str, str | None] = {k: v for k, v in env.items() if os.environ.get(k) != v}
    diff.update({k: None for k in os.environ if k not in env})
    return diff


def run_watched(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
    timeout: float | None,
    watcher: Watcher | None = None,
    poll: float = POLL_INTERVAL,
) -> CrashRun:
    """Run ``args``; kill the whole tree when ``watcher`` says so or ``timeout`` passes.

    ``watcher`` is asked every ``poll`` seconds (plus the watcher's own time)."""
    start = time.monotonic()
    proc: subprocess.Popen[bytes] = spawn(
        args,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # one process group: killpg reaches the tree at once
    )
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [_drain(proc.stdout, out), _drain(proc.stderr, err)]
    killed = timed_out = False
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - start
            if watcher is not None and watcher(proc, elapsed):
                kill_tree_at_once(proc.pid)
                killed = True
                break
            if timeout is not None and elapsed > timeout:
                kill_tree_at_once(proc.pid)
                timed_out = True
                break
            time.sleep(poll)
    finally:
        if proc.poll() is None and not (killed or timed_out):
            kill_tree_at_once(proc.pid)
        proc.wait()
        for reader in readers:
            reader.join()
    result = RunResult(
        args=list(args),
        cwd=str(cwd if cwd is not None else os.getcwd()),
        env_diff=env_diff(env),
        returncode=proc.returncode,
        stdout=b"".join(out).decode(errors="replace"),
        stderr=b"".join(err).decode(errors="replace"),
        duration=time.monotonic() - start,
        timed_out=timed_out,
        timeout=timeout,
    )
    return CrashRun(result=result, killed=killed, timed_out=timed_out)


def kill_tree_at_once(pid: int) -> None:
    """SIGKILL ``pid``'s process group in one call, then any descendant that left it.

    One killpg() makes every member's SIGKILL pending together, so no process of the
    tree runs another step in reaction to a sibling's death (a process stopped by a
    tracer at a syscall entry does not execute that syscall once SIGKILL is pending).
    """
    descendants = _descendants(pid)
    if sys.platform != "win32":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for proc in [psutil.Process(pid) if psutil.pid_exists(pid) else None, *descendants]:
        if proc is None:
            continue
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_gone(descendants, timeout=5.0)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until each process is gone or a zombie (its reaper is not us)."""
    deadline = time.monotonic() + timeout
    while procs and time.monotonic() < deadline:
        procs = [p for p in procs if _alive(p)]
        if procs:
            time.sleep(POLL_INTERVAL)


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _drain(stream: Any, sink: list[bytes]) -> threading.Thread:
    def pump() -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            sink.append(chunk)
        stream.close()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread
