"""Readiness checks for :class:`migration_harness.proc.Daemon`: line, TCP port, file, callable."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from migration_harness.proc._output import OutputLog

ReadyStream = Literal["stdout", "stderr", "any"]
#: How long one port probe may take.
PORT_PROBE_TIMEOUT = 0.25


class ReadyProbe:
    """What a readiness check may look at while a daemon starts."""

    def __init__(self, log: OutputLog, pid: int) -> None:
        self.log = log
        self.pid = pid
        self._cursors: dict[int, int] = {}

    def unseen_lines(self, reader: object, stream: ReadyStream) -> list[str]:
        """Complete lines of ``stream`` that ``reader`` has not been given yet."""
        with self.log.changed:
            start = self._cursors.get(id(reader), 0)
            new = self.log.lines[start:]
            self._cursors[id(reader)] = len(self.log.lines)
        return [line for name, line in new if stream in ("any", name)]


@runtime_checkable
class Readiness(Protocol):
    """A condition that says a daemon is ready. Checked repeatedly until true."""

    def is_ready(self, probe: ReadyProbe) -> bool: ...

    def describe(self) -> str: ...


class ReadyLine:
    """Ready once a line of output matches ``pattern`` (``re.search``).

    ``stream`` is "stdout", "stderr" or "any". Lines are matched whole, however
    the daemon's writes were split into reads: a line counts once its newline
    arrives (or its stream ends), so ``port (\\d+)$`` never sees half a number.
    """

    def __init__(self, pattern: str | re.Pattern[str], stream: ReadyStream = "any") -> None:
        if stream not in ("stdout", "stderr", "any"):
            raise ValueError(
                f"ReadyLine stream must be 'stdout', 'stderr' or 'any', not {stream!r}"
            )
        self.pattern = re.compile(pattern)
        self.stream: ReadyStream = stream
        self.matched: str | None = None

    def is_ready(self, probe: ReadyProbe) -> bool:
        for line in probe.unseen_lines(self, self.stream):
            if self.pattern.search(line):
                self.matched = line
                return True
        return False

    def describe(self) -> str:
        where = "output" if self.stream == "any" else self.stream
        return f"a line of {where} matching {self.pattern.pattern!r}"


class ReadyPort:
    """Ready once a TCP connection to ``host:port`` succeeds."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host

    def is_ready(self, probe: ReadyProbe) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=PORT_PROBE_TIMEOUT):
                return True
        except OSError:
            return False

    def describe(self) -> str:
        return f"a TCP connection to {self.host}:{self.port}"


class ReadyFile:
    """Ready once ``path`` exists."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def is_ready(self, probe: ReadyProbe) -> bool:
        return self.path.exists()

    def describe(self) -> str:
        return f"the file {self.path} to appear"


class ReadyWhen:
    """Ready once ``check()`` returns true. An ``OSError`` from it means "not yet"."""

    def __init__(self, check: Callable[[], object], description: str | None = None) -> None:
        self.check = check
        self.description = description or getattr(check, "__name__", repr(check))

    def is_ready(self, probe: ReadyProbe) -> bool:
        try:
            return bool(self.check())
        except OSError:  # connection refused and the like: the daemon is not up yet
            return False

    def describe(self) -> str:
        return f"{self.description}() to return true"


def as_readiness(ready: Readiness | str | re.Pattern[str] | None) -> Readiness | None:
    """A plain string (or compiled pattern) means :class:`ReadyLine` on any stream."""
    if ready is None or isinstance(ready, Readiness):
        return ready
    if isinstance(ready, (str, re.Pattern)):
        return ReadyLine(ready)
    raise TypeError(
        "ready must be ReadyLine, ReadyPort, ReadyFile, ReadyWhen, a regex string or None, "
        f"not {type(ready).__name__}"
    )
