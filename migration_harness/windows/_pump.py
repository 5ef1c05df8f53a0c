"""Running a child with pipes for its std handles and copying its output through.

Under Wine the std handles of a Windows CPython must be pipes: a regular file as
stdout makes CPython fail at start ("init_sys_streams ... Invalid handle"). So
the child always gets pipes, and two threads copy the bytes to our own streams,
whatever those are (terminal, file, CI log).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import psutil

# Grandchildren (a daemon a test left behind, a lingering wineserver) can inherit
# the pipes and keep them open after the child exits; do not wait for them forever.
DRAIN_AFTER_EXIT_S = 10.0


class CrlfToLf:
    """Turn Windows line endings into ``\\n`` across chunk boundaries.

    CI log readers look for pytest's closing line; a trailing ``\\r`` on every line
    would hide it.
    """

    def __init__(self) -> None:
        self._held_cr = False

    def feed(self, chunk: bytes) -> bytes:
        if self._held_cr:
            chunk = b"\r" + chunk
            self._held_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._held_cr = True
        return chunk.replace(b"\r\n", b"\n")

    def flush(self) -> bytes:
        held, self._held_cr = self._held_cr, False
        return b"\r" if held else b""


# When a Windows program calls an API Wine lacks, Wine prints this and aborts the process;
# the exit status Linux sees is the NTSTATUS truncated to 8 bits, which can be 0.
WINE_ABORT_MARK = b"unimplemented function"
WINE_ABORTED_EXIT = 70


class AbortWatch:
    """Notices Wine's abort message in a stream, even split across chunks."""

    def __init__(self) -> None:
        self.seen = False
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        window = self._tail + chunk
        if b"wine:" in window and WINE_ABORT_MARK in window.lower():
            self.seen = True
        self._tail = window[-128:]


def _copy(source: BinaryIO, sink: BinaryIO, watch: AbortWatch | None = None) -> None:
    newline = CrlfToLf()
    while chunk := source.read1(65536) if hasattr(source, "read1") else source.read(65536):
        if watch is not None:
            watch.feed(chunk)
        sink.write(newline.feed(chunk))
        sink.flush()
    sink.write(newline.flush())
    sink.flush()


COLOR_VARIABLES = ("PY_COLORS", "NO_COLOR", "FORCE_COLOR")


def color_env(env: Mapping[str, str], sink: BinaryIO) -> dict[str, str]:
    """``env`` with colour chosen by *our* output, not the child's pipe.

    The Windows child always writes to a pipe, so tools that colour "when on a
    terminal" would guess for themselves; a redirected log must get no escape codes
    and a terminal may get colour. A colour variable the caller set is kept as is.
    """
    if any(name in env for name in COLOR_VARIABLES):
        return dict(env)
    is_tty = hasattr(sink, "isatty") and sink.isatty()
    return {**env, **({"PY_COLORS": "1"} if is_tty else {"PY_COLORS": "0", "NO_COLOR": "1"})}


class Terminated(SystemExit):
    """SIGTERM arrived while a child was running (the child tree has been killed)."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[Callable[[], None]]:
    """Turn SIGTERM into :class:`Terminated` so the child tree is not orphaned (a killed
    CI job or `kill` of the wrapper must not leave Wine processes behind).

    The handler is in place before the child is started, but a SIGTERM that arrives
    before the caller calls the yielded ``armed()`` (once the child is known, so that
    it can be killed) is held and raised there. One that arrives and is never raised
    is delivered again, to the previous handler, on the way out.
    """
    if threading.current_thread() is not threading.main_thread() or os.name == "nt":
        yield lambda: None
        return
    state = {"armed": False, "pending": False}

    def _raise(signum: int, _frame: object) -> None:
        if state["armed"]:
            raise Terminated(128 + signum)
        state["pending"] = True

    def armed() -> None:
        state["armed"] = True
        if state["pending"]:
            state["pending"] = False
            raise Terminated(128 + signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield armed
    finally:
        signal.signal(signal.SIGTERM, previous)
        if state["pending"]:
            signal.raise_signal(signal.SIGTERM)


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and every descendant (Wine starts Windows children as Linux ones)."""
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    for process in [*descendants]:
        with contextlib.suppress(psutil.Error):
            process.kill()
    proc.kill()
    proc.wait()
    psutil.wait_procs(descendants, timeout=5)


def run_piped(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | str | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    timeout: float | None = None,
) -> int:
    """Run ``args`` with piped std handles, copy its output to ``stdout``/``stderr``.

    Returns the exit status; when Wine reported an abort (an unimplemented Windows
    API) but the status reads 0, :data:`WINE_ABORTED_EXIT` instead, so a crashed run
    never passes. On timeout, Ctrl-C or SIGTERM the child and its descendants are
    killed and the exception (:class:`Terminated` for SIGTERM) propagates.
    """
    out_sink = stdout if stdout is not None else sys.stdout.buffer
    err_sink = stderr if stderr is not None else sys.stderr.buffer
    with _sigterm_raises() as armed:
        proc = subprocess.Popen(
            list(args),
            env=color_env(env, out_sink),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        watch = AbortWatch()
        threads = [
            threading.Thread(target=_copy, args=(proc.stdout, out_sink), daemon=True),
            threading.Thread(target=_copy, args=(proc.stderr, err_sink, watch), daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            armed()  # a SIGTERM that came while the child was starting is raised here
            returncode = proc.wait(timeout=timeout)
        except BaseException:
            _kill_tree(proc)
            raise
        finally:
            for thread in threads:
                thread.join(DRAIN_AFTER_EXIT_S)
    if watch.seen and returncode == 0:
        err_sink.write(
            b"migration-harness windows: Wine aborted the process (an unimplemented "
            b"Windows API, see above) although its exit status reads 0; "
            b"reporting exit status %d\n" % WINE_ABORTED_EXIT
        )
        err_sink.flush()
        return WINE_ABORTED_EXIT
    return returncode
