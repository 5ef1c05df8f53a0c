"""``start_together``: start N commands, release them through one barrier at once.

Each command is started behind a tiny launcher (``_launcher.py``) that connects
to a localhost socket and blocks. Once all N are connected, one byte goes to
each of them in a tight loop. A socket works the same on every OS, which
``multiprocessing.Barrier`` (same-interpreter children only) and named
semaphores do not.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from migration_harness._platform import StrPath
from migration_harness.errors import MigrationHarnessError
from migration_harness.proc import _track
from migration_harness.proc._launcher import GO
from migration_harness.proc._run import (
    PIPE_DRAIN_TIMEOUT,
    RunResult,
    Started,
    resolve_args,
    start_captured,
)

LAUNCHER = Path(__file__).with_name("_launcher.py")
#: How often the accept loop checks whether a launcher died before connecting.
ACCEPT_POLL = 0.05
#: How long to wait for each launcher's "released at" report.
REPORT_TIMEOUT = 5.0
#: How often the commands are polled for their exit after the release.
WAIT_POLL = 0.005


class BarrierError(MigrationHarnessError, RuntimeError):
    """A launcher exited or did not reach the barrier; names it and shows its output."""


class _Launched:
    def __init__(self, argv: list[str], started: Started) -> None:
        self.argv = argv
        self.started = started
        self.proc = started.proc
        self.output = started.output
        self.conn: socket.socket | None = None
        self.released: float | None = None


def start_together(
    commands: Sequence[Sequence[StrPath]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
    timeout: float | None = 60.0,
) -> list[RunResult]:
    """Start every command, release them all at the same instant, and collect each result.

    Results are in the order of ``commands``; each carries ``released_at`` (the
    wall-clock release) and ``release_skew`` (how long after it that process was
    let go). ``timeout`` bounds the whole call; a command still running then is
    killed with its tree and reported ``timed_out``.
    """
    argvs = [resolve_args(command, env) for command in commands]
    if not argvs:
        return []
    deadline = None if timeout is None else time.monotonic() + timeout
    launched: list[_Launched] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        try:
            for index, argv in enumerate(argvs):
                launched.append(_launch(index, argv, port, env, cwd))
            _gather(server, launched, deadline)
            released_at = _release(launched)
        except BaseException:
            for item in launched:
                _track.kill_tree(item.proc.pid)
            raise
        finally:
            for item in launched:
                if item.conn is not None:
                    item.conn.close()
    finished = _wait_all(launched, deadline)
    return [
        _result(item, released_at, end, timeout)
        for item, end in zip(launched, finished, strict=True)
    ]


def _launch(
    index: int, argv: list[str], port: int, env: Mapping[str, str] | None, cwd: StrPath | None
) -> _Launched:
    launcher = [sys.executable, "-I", "-S", str(LAUNCHER), str(port), str(index), "--", *argv]
    return _Launched(argv, start_captured(launcher, env=env, cwd=cwd))


def _gather(server: socket.socket, launched: list[_Launched], deadline: float | None) -> None:
    """Accept one connection per launcher; fail at once if one of them exits."""
    server.settimeout(ACCEPT_POLL)
    waiting = len(launched)
    while waiting:
        _check_launchers(launched, deadline)
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        conn.settimeout(REPORT_TIMEOUT)
        index = int(_read_line(conn))
        launched[index].conn = conn
        waiting -= 1


def _check_launchers(launched: list[_Launched], deadline: float | None) -> None:
    for item in launched:
        if item.conn is None and item.proc.poll() is not None:
            item.output.join(PIPE_DRAIN_TIMEOUT)
            raise BarrierError(
                f"barrier launcher for {item.argv!r} exited with code {item.proc.returncode} "
                f"before reaching the barrier; stderr: {item.output.stderr.text().strip()!r}"
            )
    if deadline is not None and time.monotonic() > deadline:
        missing = [item.argv for item in launched if item.conn is None]
        raise BarrierError(f"timed out before every command reached the barrier: {missing!r}")


def _release(launched: list[_Launched]) -> float:
    """Send the go byte to every launcher back to back; return the release moment."""
    conns = [item.conn for item in launched if item.conn is not None]
    released_at = time.time()
    for conn in conns:
        conn.sendall(GO)
    for item in launched:
        if item.conn is not None:
            with contextlib.suppress(OSError, ValueError):
                item.released = float(_read_line(item.conn))
    return released_at


def _read_line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            break
        data += chunk
    return data.decode("ascii").strip()


def _wait_all(launched: list[_Launched], deadline: float | None) -> list[float | None]:
    """Wait for every command; note when each exited (None: killed at the deadline)."""
    finished: list[float | None] = [None] * len(launched)
    pending = set(range(len(launched)))
    while pending:
        for i in list(pending):
            if launched[i].proc.poll() is not None:
                finished[i] = time.time()
                pending.discard(i)
        if deadline is not None and time.monotonic() > deadline:
            break
        if pending:
            time.sleep(WAIT_POLL)
    for i in pending:
        _track.kill_tree(launched[i].proc.pid)
        launched[i].proc.wait()
    return finished


def _result(
    item: _Launched, released_at: float, finished: float | None, timeout: float | None
) -> RunResult:
    return item.started.result(
        args=item.argv,
        duration=(finished if finished is not None else time.time()) - released_at,
        timed_out=finished is None,
        timeout=timeout,
        released_at=released_at,
        release_skew=None if item.released is None else item.released - released_at,
    )
