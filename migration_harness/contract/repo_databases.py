"""Each repo's own database, for a target with a ``[target.database]``.

A repo stays a directory in the case's scratch (the tool may keep files there), and its
data lives in a database named after the repo's path on the run's server: the same path
always means the same database, in every thread and worker of the run. Whatever the
harness does to a repo it does to its database too: a fresh create starts from an empty
database, a copy of a repo copies its database, a snapshot includes its dump.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

from migration_harness.databases import Database, DatabaseError, Server
from migration_harness.target import DatabaseSpec

#: A copy needs its source to have no other session; another worker may be copying the
#: same created repo at that moment. Retries, and the pause before each.
COPY_ATTEMPTS = 5
COPY_RETRY_DELAY_S = 0.2

_known_lock = threading.Lock()
_known: set[tuple[int, str]] = set()  # (server port, database) known to exist


def database_name(repo: Path) -> str:
    """The repo's database: ``mh_`` and a hash of its absolute path (a valid identifier
    on every engine, whatever characters the path holds)."""
    digest = hashlib.sha256(os.fspath(repo.absolute()).encode("utf-8")).hexdigest()
    return f"mh_{digest[:24]}"


class RepoDatabases:
    """The databases of one case's repos, on the run's shared server."""

    def __init__(self, spec: DatabaseSpec) -> None:
        from migration_harness.databases import SERVERS

        self.server: Server = SERVERS.get(spec.engine, spec.bindir)
        self._made: list[str] = []

    def of(self, repo: Path) -> Database:
        """The repo's database, created empty if it does not exist yet."""
        name = database_name(repo)
        if not self._exists(name):
            try:
                self.server.create_database(name)
            except DatabaseError as exc:
                if "exists" not in str(exc):  # another worker made it first
                    raise
            self._remember(name)
        return Database(self.server, name)

    def fresh(self, repo: Path) -> Database:
        """An empty database for the repo (an old one at that path is dropped)."""
        name = database_name(repo)
        self.server.drop_database(name)
        self.server.create_database(name)
        self._remember(name)
        return Database(self.server, name)

    def copy(self, source: Path, repo: Path) -> None:
        """The repo's database becomes a copy of ``source``'s."""
        name = database_name(repo)
        self.server.drop_database(name)
        for attempt in range(1, COPY_ATTEMPTS + 1):
            try:
                self.server.create_database(name, template=database_name(source))
                break
            except DatabaseError as exc:
                if "being accessed" not in str(exc) or attempt == COPY_ATTEMPTS:
                    raise
                time.sleep(COPY_RETRY_DELAY_S)
        self._remember(name)

    def dump(self, repo: Path) -> str:
        return self.of(repo).dump()

    def close(self) -> None:
        """Drop the databases this case made (a kept, failed case keeps its own)."""
        for name in self._made:
            self.server.drop_database(name)
            with _known_lock:
                _known.discard((self.server.port, name))
        self._made.clear()

    def _exists(self, name: str) -> bool:
        with _known_lock:
            return (self.server.port, name) in _known

    def _remember(self, name: str) -> None:
        with _known_lock:
            _known.add((self.server.port, name))
        if name not in self._made:
            self._made.append(name)
