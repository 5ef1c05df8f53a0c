"""What every engine offers: a :class:`Server`, its :class:`Database` objects, errors."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from migration_harness.errors import MigrationHarnessError

if TYPE_CHECKING:
    from migration_harness.proc import Daemon, RunResult, StopReport

ENGINES = ("postgresql", "mariadb")

#: How long a server may take to start before the start counts as failed. A server
#: starts in well under a second on a quiet machine; a loaded CI runner is much slower.
START_TIMEOUT_S = 60.0
#: How long one SQL statement (or a dump) through the engine's client may take.
CLIENT_TIMEOUT_S = 120.0
#: Tries at a free port: another process may take the port between the probe and the
#: server's own bind (two xdist workers starting servers at once).
PORT_ATTEMPTS = 3


class DatabaseUnavailable(MigrationHarnessError, RuntimeError):
    """The engine's server cannot run here; the message says what to install."""


class DatabaseError(MigrationHarnessError, RuntimeError):
    """A statement, dump or server start failed; the message shows what ran and printed."""


@dataclass(frozen=True)
class Database:
    """One database on a running :class:`Server`."""

    server: Server
    name: str

    @property
    def url(self) -> str:
        """``postgresql://user@127.0.0.1:port/name`` (``mysql://`` for MariaDB)."""
        return self.server.url(self.name)

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def user(self) -> str:
        return self.server.user

    def sql(self, statements: str) -> str:
        """Run ``statements`` in this database; return what the client printed (rows as
        tab-separated lines). :class:`DatabaseError` if any statement fails."""
        return self.server.sql(self.name, statements)

    def dump(self) -> str:
        """The schema and every row of every table, in an order that does not depend on
        how the data was written: equal dumps mean equal logical content."""
        return self.server.dump(self.name)

    def placeholders(self) -> dict[str, str]:
        """The values of ``{database_url}``, ``{db_host}``, ``{db_port}``, ``{db_name}``
        and ``{db_user}`` for this database."""
        return {
            "database_url": self.url,
            "db_host": self.host,
            "db_port": str(self.port),
            "db_name": self.name,
            "db_user": self.user,
        }

    def drop(self) -> None:
        self.server.drop_database(self.name)


class Server(ABC):
    """A running throwaway server. Stop it with :meth:`stop` or a ``with`` block."""

    engine: str
    host = "127.0.0.1"
    user: str
    programs: dict[str, str]
    prefix: list[str]

    def __init__(self, root: Path) -> None:
        self.root = root  # everything of this server: data, socket, logs
        self.port = 0
        self.daemon: Daemon | None = None
        self.owned = True  # False: another process started it and will stop it
        self._names = itertools.count(1)

    # -- what each engine provides -------------------------------------------

    @abstractmethod
    def _start(self) -> None:
        """Initialise the data directory and start the daemon on ``self.port``."""

    @abstractmethod
    def url(self, name: str) -> str:
        """The URL a client uses to reach database ``name``."""

    @abstractmethod
    def client(self, database: str | None) -> list[str]:
        """The engine's command-line client, connected, reading SQL from stdin."""

    @abstractmethod
    def create_statement(self, name: str, template: str | None) -> str:
        """SQL that creates database ``name`` (empty, or a copy of ``template``)."""

    @abstractmethod
    def drop_statement(self, name: str) -> str: ...

    @abstractmethod
    def dump_statements(self) -> str:
        """SQL whose output is the canonical dump of the connected database."""

    @abstractmethod
    def copy(self, source: str, name: str) -> None:
        """Create ``name`` as a copy of ``source`` (schema and rows)."""

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> Server:
        error: DatabaseError | None = None
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            try:
                self._start()
                return self
            except DatabaseError as exc:
                if "address already in use" not in str(exc).lower():
                    self.stop()
                    raise
                error = exc
        self.stop()
        assert error is not None
        raise error

    @property
    def pid(self) -> int | None:
        """The server's main process, while it runs here (None: not started here)."""
        return self.daemon.pid if self.daemon is not None else None

    def stop(self) -> StopReport | None:
        """Stop the server (its whole process tree) and remove its data. Safe twice.
        A server this process attached to (:func:`attach`) is left to its owner."""
        if not self.owned:
            return None
        report = self.daemon.stop() if self.daemon is not None else None
        shutil.rmtree(self.root, ignore_errors=True)
        return report

    # -- sharing with other processes of the run -----------------------------------

    def describe(self) -> dict[str, object]:
        """What another process needs to use this server (see :func:`attach`)."""
        return {
            "engine": self.engine,
            "root": str(self.root),
            "port": self.port,
            "programs": self.programs,
            "prefix": self.prefix,
        }

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases --------------------------------------------------------------

    def create_database(self, name: str | None = None, *, template: str | None = None) -> Database:
        """A new database: empty, or a copy of database ``template``. Names made here
        are unique on this server (``mh_1``, ``mh_2``, ...)."""
        name = name or f"mh_{next(self._names)}_{secrets.token_hex(3)}"
        if template is None:
            self.sql(None, self.create_statement(name, None))
        else:
            self.copy(template, name)
        return Database(self, name)

    def drop_database(self, name: str) -> None:
        self.sql(None, self.drop_statement(name))

    def sql(self, database: str | None, statements: str) -> str:
        result = self._client_run(database, statements)
        if not result.ok:
            where = f"database {database}" if database else "the server"
            raise DatabaseError(f"{self.engine}: SQL failed on {where}:\n{result.describe()}")
        return result.stdout

    def dump(self, database: str) -> str:
        return self.sql(database, self.dump_statements())

    def _client_run(self, database: str | None, statements: str) -> RunResult:
        from migration_harness.proc import run

        return run(self.client(database), input=statements, timeout=CLIENT_TIMEOUT_S)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_root(engine: str, base: str | os.PathLike[str] | None, *, shared: bool) -> Path:
    """A new directory for one server's data, socket and logs, under ``base`` (default:
    the system's temp directory). ``shared``: the server runs as another user, who
    must be able to reach it; a temp directory private to this user (TMPDIR set to a
    directory of mode 0700, as test runners do) is then passed over for ``/tmp``."""
    where = os.fspath(base) if base is not None else tempfile.gettempdir()
    if base is None and shared and not reachable_by_others(Path(where)):
        where = PUBLIC_TEMP
    return Path(tempfile.mkdtemp(prefix=f"mh-{engine}-", dir=where))


#: The temp directory every user can reach on POSIX systems.
PUBLIC_TEMP = "/tmp"


def reachable_by_others(directory: Path) -> bool:
    """Whether a user other than its owner can reach into ``directory`` (search rights
    for others on it and on every directory above it)."""
    import stat

    for path in (directory.absolute(), *directory.absolute().parents):
        if not path.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def start_server(
    engine: str,
    *,
    base: str | os.PathLike[str] | None = None,
    bindir: str | os.PathLike[str] | None = None,
) -> Server:
    """Start a throwaway ``engine`` server (``"postgresql"`` or ``"mariadb"``).

    ``bindir``: where the server's programs are (default: found on the machine).
    :class:`DatabaseUnavailable` when they are missing or cannot run here.
    """
    if engine not in ENGINES:
        raise ValueError(
            f"unknown database engine {engine!r}; expected one of {', '.join(ENGINES)}"
        )
    if engine == "postgresql":
        from migration_harness.databases._postgres import PostgresServer

        server = PostgresServer.create(base=base, bindir=bindir)
        try:
            return server.start()
        except DatabaseError as exc:
            if sys.platform == "win32":
                # Started through pg_ctl there, which this project's own machines cannot
                # run (no Windows build of PostgreSQL): a failure says why, as a skip.
                raise DatabaseUnavailable(f"PostgreSQL did not start on Windows: {exc}") from None
            raise
    if sys.platform == "win32":
        # GitHub's Windows runners have no MariaDB; not tried there yet.
        raise DatabaseUnavailable(f"a throwaway {engine} server is not supported on Windows yet")
    if engine == "mariadb":
        from migration_harness.databases._mariadb import MariaDBServer

        return MariaDBServer.create(base=base, bindir=bindir).start()
    raise AssertionError("unreachable: the engine was checked above")


def attach(description: dict[str, object]) -> Server:
    """The server another process started and described (:meth:`Server.describe`); this
    process uses it and never stops it."""
    engine = str(description["engine"])
    server_class: type[Server]
    if engine == "postgresql":
        from migration_harness.databases._postgres import PostgresServer as server_class
    elif engine == "mariadb":
        from migration_harness.databases._mariadb import MariaDBServer as server_class
    else:
        raise ValueError(
            f"unknown database engine {engine!r}; expected one of {', '.join(ENGINES)}"
        )
    programs = description["programs"]
    prefix = description["prefix"]
    port = description["port"]
    assert isinstance(programs, dict) and isinstance(prefix, list) and isinstance(port, int)
    server = server_class(Path(str(description["root"])), dict(programs), list(prefix))  # type: ignore[call-arg]
    server.port = port
    server.owned = False
    return server
