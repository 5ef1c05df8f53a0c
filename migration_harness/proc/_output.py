"""Draining a child's stdout and stderr concurrently, one thread per pipe.

Reading both pipes at once is what keeps a child that writes megabytes to
either stream from blocking on a full pipe. Pipes (not files) because CPython
under Wine refuses to start with a regular file as a standard handle.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from typing import IO, Any, Literal

CHUNK_SIZE = 1 << 16
#: How long :meth:`Capture.wait_for` sleeps at most between looks at the log.
WAIT_SLICE = 0.1

StreamName = Literal["stdout", "stderr", "any"]


def decode(data: bytes) -> str:
    """Bytes from a child as text: UTF-8 (undecodable bytes replaced), newlines as ``\\n``."""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


class OutputLog:
    """Complete lines from several streams, in arrival order, for readiness checks.

    Splitting on ``\\n`` happens on bytes, so a line split across reads (or a
    multi-byte character split across reads) is only seen once it is whole.
    """

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.lines: list[tuple[str, str]] = []
        self.ended: set[str] = set()
        self._partial: dict[str, bytearray] = {}

    def feed(self, stream: str, data: bytes) -> None:
        with self.changed:
            buffer = self._partial.setdefault(stream, bytearray())
            buffer += data
            *complete, rest = bytes(buffer).split(b"\n")
            for raw in complete:
                self.lines.append((stream, decode(raw).rstrip("\r")))
            self._partial[stream] = bytearray(rest)
            self.changed.notify_all()

    def close(self, stream: str) -> None:
        """End of ``stream``: a last unterminated line counts as a line."""
        with self.changed:
            rest = self._partial.pop(stream, bytearray())
            if rest:
                self.lines.append((stream, decode(bytes(rest)).rstrip("\r")))
            self.ended.add(stream)
            self.changed.notify_all()

    def text(self) -> str:
        """Complete lines in arrival order, then any unterminated last lines."""
        with self.changed:
            lines = [line for _, line in self.lines]
            lines += [decode(bytes(rest)) for rest in self._partial.values() if rest]
            return "".join(f"{line}\n" for line in lines)


class StreamReader:
    """A daemon thread that reads one pipe to its end into memory."""

    def __init__(self, pipe: IO[bytes], name: str, log: OutputLog | None = None) -> None:
        self.name = name
        self._pipe = pipe
        self._log = log
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._abandoned = False
        self._done = False
        self._thread = threading.Thread(target=self._drain, name=f"harness-{name}", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        fd = self._pipe.fileno()
        try:
            while True:
                try:
                    chunk = os.read(fd, CHUNK_SIZE)
                except OSError:
                    break  # the pipe broke (or was closed under us): treat as end
                if not chunk:
                    break
                with self._lock:
                    self._chunks.append(chunk)
                if self._log is not None:
                    self._log.feed(self.name, chunk)
        finally:
            if self._log is not None:
                self._log.close(self.name)
            with self._lock:
                self._done = True
                if self._abandoned:
                    self._pipe.close()

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float | None) -> bool:
        """Wait for end of stream; False if a grandchild still holds the pipe open."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def data(self) -> bytes:
        with self._lock:
            return b"".join(self._chunks)

    def text(self) -> str:
        return decode(self.data())

    def close(self) -> None:
        """Close our end once the thread is done with it (or when it is, if still reading)."""
        with self._lock:
            if self._done:
                self._pipe.close()
            else:
                self._abandoned = True


class Capture:
    """Both output pipes of a running child, each read on a thread of its own into one log.

    The child must have been started with ``stdout=PIPE`` and ``stderr=PIPE``. With
    ``lines=False`` the output is only kept whole (for a run that nobody watches
    line by line): :meth:`wait_for` then never matches.
    """

    def __init__(self, proc: subprocess.Popen[Any], *, lines: bool = True) -> None:
        assert proc.stdout is not None and proc.stderr is not None, "start it with PIPEs"
        self.log = OutputLog()
        log = self.log if lines else None
        self.stdout = StreamReader(proc.stdout, "stdout", log)
        self.stderr = StreamReader(proc.stderr, "stderr", log)

    @property
    def ended(self) -> bool:
        """Both pipes reached end-of-file: the child exited (or closed them)."""
        with self.log.changed:
            return {"stdout", "stderr"} <= self.log.ended

    def wait_for(
        self, pattern: re.Pattern[str], *, timeout: float, stream: StreamName = "any"
    ) -> bool:
        """True once a whole line of ``stream`` matches ``pattern`` (``re.search``);
        False after ``timeout`` seconds or once the stream ended without one."""
        names = {"stdout", "stderr"} if stream == "any" else {stream}
        deadline = time.monotonic() + timeout
        seen = 0
        with self.log.changed:
            while True:
                new, seen = self.log.lines[seen:], len(self.log.lines)
                if any(pattern.search(line) for name, line in new if name in names):
                    return True
                left = deadline - time.monotonic()
                if names <= self.log.ended or left <= 0:
                    return False
                self.log.changed.wait(min(WAIT_SLICE, left))

    def labelled(self) -> str:
        """Both streams so far, each under its name; "(no output)" if the child printed
        nothing."""
        parts = [f"[{r.name}]\n{r.text().rstrip()}" for r in (self.stdout, self.stderr) if r.data()]
        return "\n".join(parts) or "(no output)"

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in all for both pipes to reach their end."""
        deadline = time.monotonic() + timeout
        readers = (self.stdout, self.stderr)
        return all([reader.join(max(0.0, deadline - time.monotonic())) for reader in readers])

    def close(self) -> None:
        """Stop reading: close both pipes (at once, or when their thread is done)."""
        self.stdout.close()
        self.stderr.close()

    def finish(self, timeout: float) -> bool:
        """Read both pipes to their end for up to ``timeout`` seconds in all, then close
        them; False if a process still held one open (what it writes later is lost)."""
        done = self.join(timeout)
        self.close()
        return done
