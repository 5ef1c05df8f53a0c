"""``daemon`` and ``shutdown``: a long-running process that holds the repo lock.

The daemon takes the repo lock, listens on a localhost port written to
``REPO/api``, prints ``Daemon is ready`` and serves until a ``shutdown`` request
arrives on that port or a polite signal (SIGINT, SIGTERM; Ctrl+C or Ctrl+Break
on Windows). It then removes ``api``, releases the lock and only then answers the
shutdown request, so ``shutdown`` returning means the lock is free.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from pathlib import Path
from types import FrameType

from migration_harness.reference import fsutil
from migration_harness.reference.errors import RefError
from migration_harness.reference.layout import Repo
from migration_harness.reference.locking import RepoLock
from migration_harness.reference.steps import Ctx
from migration_harness.reference.versions import LATEST, ahead_message, read_version

READY_LINE = "Daemon is ready"
_POLL_S = 0.05
_CLIENT_TIMEOUT_S = 5.0
SHUTDOWN_WAIT_S = 30.0


class _StopFlag:
    def __init__(self) -> None:
        self.set = False

    def handler(self, signum: int, frame: FrameType | None) -> None:
        self.set = True


def _install_signal_handlers(flag: _StopFlag) -> None:
    names = ["SIGINT", "SIGTERM", "SIGBREAK"]  # SIGBREAK: CTRL_BREAK_EVENT on Windows
    for name in names:
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, flag.handler)


def run_daemon(root: Path, *, wait_s: float, migrate: bool = False) -> int:
    """Serve ``root``; with ``migrate`` (kubo's ``daemon --migrate``) first bring the repo
    to the latest version, under the same lock."""
    repo = Repo(root)
    version = read_version(repo.root)
    if version > LATEST:
        raise RefError(ahead_message(version))
    flag = _StopFlag()
    _install_signal_handlers(flag)
    with RepoLock(repo, wait_s=wait_s), socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(_POLL_S)
        port = server.getsockname()[1]
        if migrate:
            _migrate_first(repo)
        Ctx(repo).write(repo.api_file, f"127.0.0.1:{port}\n".encode())
        print(READY_LINE, flush=True)
        requester = _serve(server, flag)
        fsutil.remove_file(repo.api_file)
    # The lock is released here: tell whoever asked us to stop.
    if requester is not None:
        with requester:
            _send(requester, "stopped\n")
    print("Daemon stopped", flush=True)
    return 0


def _migrate_first(repo: Repo) -> None:
    import os

    from migration_harness.reference.hooks import Checkpoints
    from migration_harness.reference.migrate import migrate_locked
    from migration_harness.reference.mutants import active_mutant

    ctx = Ctx(repo, Checkpoints(os.environ), active_mutant(os.environ))
    print(migrate_locked(ctx, LATEST, allow_downgrade=False, environ=os.environ), flush=True)


def _serve(server: socket.socket, flag: _StopFlag) -> socket.socket | None:
    """Serve until stopped; returns the connection that asked for shutdown (still open)."""
    while not flag.set:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        except InterruptedError:
            continue
        request = _read_line(conn)
        if request == "shutdown":
            _send(conn, "stopping\n")
            return conn
        _send(conn, "pong\n" if request == "ping" else f"unknown request {request!r}\n")
        conn.close()
    return None


def _read_line(conn: socket.socket) -> str:
    conn.settimeout(_CLIENT_TIMEOUT_S)
    data = b""
    try:
        while b"\n" not in data and len(data) < 1024:
            chunk = conn.recv(1024)
            if not chunk:
                break
            data += chunk
    except OSError:
        return ""
    return data.decode("utf-8", "replace").strip()


def _send(conn: socket.socket, text: str) -> None:
    with contextlib.suppress(OSError):  # the client went away: nothing to tell it
        conn.sendall(text.encode())


def _api_address(repo: Repo) -> tuple[str, int]:
    try:
        text = repo.api_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise RefError(
            f"no daemon is running for {repo.root} ({repo.api_file} not found)"
        ) from None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise RefError(f"corrupt api file {repo.api_file}: expected HOST:PORT, found {text!r}")
    return host, int(port)


def shutdown(root: Path) -> str:
    """Ask the daemon to stop and wait until it has released the repo lock."""
    repo = Repo(root)
    host, port = _api_address(repo)
    try:
        conn = socket.create_connection((host, port), timeout=_CLIENT_TIMEOUT_S)
    except OSError as exc:
        raise RefError(
            f"no daemon answers at {host}:{port} (from {repo.api_file}): {exc}; "
            f"if none is running, delete {repo.api_file}"
        ) from None
    deadline = time.monotonic() + SHUTDOWN_WAIT_S
    reply = b""
    with conn:
        conn.sendall(b"shutdown\n")
        conn.settimeout(SHUTDOWN_WAIT_S)
        try:
            while time.monotonic() < deadline:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                reply += chunk
        except OSError:
            pass
    if b"stopped" not in reply:
        raise RefError(
            f"the daemon at {host}:{port} did not confirm it stopped within "
            f"{SHUTDOWN_WAIT_S:g}s (reply: {reply.decode('utf-8', 'replace').strip()!r})"
        )
    return f"daemon for {root} stopped"
