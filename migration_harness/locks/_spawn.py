"""Starting and stopping the holder processes, and reading their output while they run.

``migration_harness.proc`` owns process handling (tracking, tree kill); this module adds
what a holder needs on top: a stdin pipe, and output it can wait on line by line.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO

from migration_harness.proc import kill_tree, popen

StrPath = str | os.PathLike[str]


def spawn(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``args`` with piped stdin/stdout/stderr in its own process group, tracked by
    ``migration_harness.proc`` so that no holder outlives its test."""
    proc: subprocess.Popen[bytes] = popen(
        list(args),
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return proc


def interrupt(proc: subprocess.Popen[bytes]) -> None:
    """Ask politely: SIGINT to the group on POSIX; CTRL_BREAK on Windows (may fail under Wine)."""
    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            proc.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            os.killpg(proc.pid, signal.SIGINT)


def stop_politely(proc: subprocess.Popen[bytes], *, grace: float = 3.0) -> str:
    """interrupt -> terminate -> kill, each step given ``grace`` seconds; returns the last step."""
    if proc.poll() is not None:
        return "already-exited"
    for step, action in (("interrupt", interrupt), ("terminate", _terminate)):
        action(proc)
        try:
            proc.wait(timeout=grace)
            return step
        except subprocess.TimeoutExpired:
            continue
    kill_tree(proc.pid)
    proc.wait(timeout=grace)
    return "kill"


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        proc.terminate()


class StreamReader:
    """Drains one pipe on a thread (so the child never blocks on a full pipe) into lines."""

    def __init__(self, stream: IO[bytes], name: str, changed: threading.Condition) -> None:
        self.name = name
        self.lines: list[str] = []
        self._stream = stream
        self._changed = changed
        self.closed = False
        self._thread = threading.Thread(target=self._pump, name=f"lock-{name}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for raw in iter(self._stream.readline, b""):
            with self._changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


class Output:
    """stdout and stderr of one child, readable while it runs; waits for a line to match."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self._changed = threading.Condition()
        self.stdout = StreamReader(proc.stdout, "stdout", self._changed)
        self.stderr = StreamReader(proc.stderr, "stderr", self._changed)
        self._proc = proc

    def wait_for(self, pattern: re.Pattern[str], *, timeout: float, stream: str = "any") -> bool:
        """True once a line of ``stream`` matches; False on timeout or when the child exited."""
        readers = {"stdout": [self.stdout], "stderr": [self.stderr]}.get(
            stream, [self.stdout, self.stderr]
        )
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if any(pattern.search(line) for r in readers for line in r.lines):
                    return True
                if all(r.closed for r in readers) or time.monotonic() >= deadline:
                    return False
                # Short waits: a child that exits without closing an inherited
                # pipe would otherwise keep us here until the deadline.
                self._changed.wait(min(0.1, max(0.0, deadline - time.monotonic())))
                if self._proc.poll() is not None and all(r.closed for r in readers):
                    return any(pattern.search(line) for r in readers for line in r.lines)

    @property
    def closed(self) -> bool:
        """Both pipes reached EOF: the child exited (or closed them)."""
        return self.stdout.closed and self.stderr.closed

    def join(self, timeout: float = 5.0) -> None:
        self.stdout.join(timeout)
        self.stderr.join(timeout)

    @property
    def text(self) -> str:
        parts = [f"[{r.name}]\n{r.text}" for r in (self.stdout, self.stderr) if r.lines]
        return "\n".join(parts) or "(no output)"
