"""Server-side locks held by a session of the harness: PostgreSQL advisory and table
locks, MariaDB ``GET_LOCK``.

The holder is the engine's own client, connected to the tool's database, that takes the
lock and then sits idle reading more SQL from a pipe the harness keeps open (an idle
session, not one asleep inside a statement: a server notices at once that an idle
client died, and only at the end of a statement that a busy one did). ``release()``
closes the pipe: the client ends its session and the server frees the lock.
``crash()`` kills the client hard, as a migrator killed between two statements dies:
the server ends that session and frees the lock by itself.
"""

from __future__ import annotations

import contextlib
import re
import subprocess

from migration_harness.databases._api import Database
from migration_harness.locks import LockHolder, LockHolderError

#: The server lock styles and the engine each needs.
SERVER_LOCK_STYLES = {
    "postgresql-advisory": "postgresql",  # pg_advisory_lock(key): a session lock
    "postgresql-table": "postgresql",  # LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE
    "mariadb-get-lock": "mariadb",  # GET_LOCK(name): a named session lock
}
#: What each style needs to name its lock: a number, a table or a name.
LOCK_OPERAND = {
    "postgresql-advisory": "key",
    "postgresql-table": "table",
    "mariadb-get-lock": "name",
}
HELD = "mh-lock-held"
_HELD_LINE = re.compile(rf"^{HELD}$")
#: How long a holder's client may take to connect before the hold counts as failed.
CONNECT_SLACK_S = 30.0


def lock_statements(style: str, operand: int | str, wait_s: float) -> str:
    """The SQL a holder sends: take the lock (waiting up to ``wait_s``), then say so."""
    # PostgreSQL: a lock not taken in time is an error, and psql stops at the first one.
    wait = f"SET lock_timeout = '{int(wait_s * 1000)}ms';\n"
    if style == "postgresql-advisory":
        return f"{wait}SELECT pg_advisory_lock({int(operand)});\nSELECT '{HELD}';\n"
    if style == "postgresql-table":
        table = '"' + str(operand).replace('"', '""') + '"'
        locking = f"BEGIN;\nLOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;\n"
        return f"{wait}{locking}SELECT '{HELD}';\n"
    if style == "mariadb-get-lock":
        name = "'" + str(operand).replace("\\", "\\\\").replace("'", "''") + "'"
        return f"SELECT IF(GET_LOCK({name}, {wait_s:g}) = 1, '{HELD}', 'busy');\n"
    raise ValueError(f"unknown server lock style {style!r}")


class ServerLockHolder(LockHolder):
    """A lock held by an idle session of the engine's client (see the module's notes)."""

    def _release_script_style(self, timeout: float) -> None:
        if self._proc.poll() is not None:
            raise LockHolderError(
                f"{self._what()} exited early with status {self._proc.returncode}:\n{self.output}"
            )
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):
            self._proc.stdin.close()  # end of input: the client ends its session
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.crash_quietly()
            raise LockHolderError(
                f"{self._what()} did not end its session within {timeout:g}s:\n{self.output}"
            ) from None

    def crash_quietly(self) -> None:
        from migration_harness.proc import kill_tree

        kill_tree(self._proc.pid)
        self._proc.wait(timeout=CONNECT_SLACK_S)


def hold_server_lock(
    database: Database, style: str, operand: int | str, *, timeout: float = 10.0
) -> LockHolder:
    """Take ``style``'s lock on ``operand`` in ``database`` from a separate client session;
    returns once it is held (:class:`LockHolderError` with the client's output if not
    within ``timeout`` seconds)."""
    from migration_harness.proc import kill_tree, start_captured

    engine = SERVER_LOCK_STYLES.get(style)
    if engine is None:
        raise ValueError(f"unknown server lock style {style!r}")
    if engine != database.server.engine:
        raise ValueError(
            f"lock style {style!r} needs a {engine} server, not {database.server.engine}"
        )
    args = database.server.client(database.name)
    if engine == "mariadb":
        args = [*args, "--unbuffered"]  # each result as it comes, not at the end
    started = start_captured(args, stdin=subprocess.PIPE, lines=True)
    proc, output = started.proc, started.output
    assert proc.stdin is not None
    proc.stdin.write(lock_statements(style, operand, timeout).encode("utf-8"))
    proc.stdin.flush()
    if output.wait_for(_HELD_LINE, timeout=timeout + CONNECT_SLACK_S, stream="stdout"):
        return ServerLockHolder(style, None, proc, output)
    kill_tree(proc.pid)
    proc.wait(timeout=CONNECT_SLACK_S)
    output.finish(5.0)

    said = output.labelled()
    reason = (
        "another session holds it" if "busy" in said or "lock timeout" in said else "see its output"
    )
    raise LockHolderError(
        f"{style} lock on {operand!r} in database {database.name}: not taken ({reason}):\n{said}"
    )
