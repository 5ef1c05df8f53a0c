"""Throwaway database servers for tests and the contract: PostgreSQL and MariaDB.

:func:`start_server` starts a real server from the binaries installed on the machine
(no containers), listening on a free localhost port, tuned for tests (no fsync), as a
tracked daemon that :meth:`Server.stop` (or the end of a ``with`` block) stops and
removes with its data. :meth:`Server.create_database` gives each test or case a fresh,
empty database (or a copy of another one); a :class:`Database` knows its URL, runs SQL
through the engine's own client and dumps itself canonically.

Missing binaries raise :class:`DatabaseUnavailable`, whose message says what to
install; the pytest fixtures turn it into a skip with that message.
"""

from __future__ import annotations

from migration_harness.databases._api import (
    ENGINES,
    Database,
    DatabaseError,
    DatabaseUnavailable,
    Server,
    start_server,
)
from migration_harness.databases._locks import LOCK_OPERAND, SERVER_LOCK_STYLES, hold_server_lock
from migration_harness.databases._shared import ANNOUNCE_ENV, SERVERS, announced

__all__ = [
    "ANNOUNCE_ENV",
    "ENGINES",
    "LOCK_OPERAND",
    "SERVERS",
    "SERVER_LOCK_STYLES",
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "Server",
    "announced",
    "hold_server_lock",
    "start_server",
]
