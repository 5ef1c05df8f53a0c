"""Fixtures: ``postgres`` and ``mariadb`` (a fresh database on a throwaway server).

The server starts once per session (per pytest-xdist worker) on first use, and each
test gets a new, empty database on it, dropped after the test. Where the server's
programs are missing, the tests that ask for it are skipped with what to install.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from migration_harness.databases import Database, Server


def _server(engine: str) -> Iterator[Server]:
    from migration_harness.databases import DatabaseUnavailable, start_server

    try:
        server = start_server(engine)
    except DatabaseUnavailable as exc:
        pytest.skip(f"{engine}: {exc}")
    try:
        yield server
    finally:
        server.stop()


def _database(server: Server) -> Iterator[Database]:
    database = server.create_database()
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture(scope="session")
def mh_postgres_server() -> Iterator[Server]:
    """A throwaway PostgreSQL server for the session (``postgres_server``)."""
    yield from _server("postgresql")


@pytest.fixture(scope="session")
def postgres_server(mh_postgres_server: Server) -> Server:
    """A throwaway PostgreSQL server for the session: ``create_database()``, ``url()``,
    ``stop()``. Skips the test where PostgreSQL is not installed."""
    return mh_postgres_server


@pytest.fixture
def mh_postgres(mh_postgres_server: Server) -> Iterator[Database]:
    """The plugin's ``postgres``, under a name no project's own fixture takes."""
    yield from _database(mh_postgres_server)


@pytest.fixture
def postgres(mh_postgres: Database) -> Database:
    """A new, empty PostgreSQL database for this test (dropped after it): ``.url``,
    ``.sql(statements)``, ``.dump()``. Also reachable as ``mh_postgres``."""
    return mh_postgres


@pytest.fixture(scope="session")
def mh_mariadb_server() -> Iterator[Server]:
    """A throwaway MariaDB server for the session (``mariadb_server``)."""
    yield from _server("mariadb")


@pytest.fixture(scope="session")
def mariadb_server(mh_mariadb_server: Server) -> Server:
    """A throwaway MariaDB server for the session. Skips the test where MariaDB is not
    installed."""
    return mh_mariadb_server


@pytest.fixture
def mh_mariadb(mh_mariadb_server: Server) -> Iterator[Database]:
    """The plugin's ``mariadb``, under a name no project's own fixture takes."""
    yield from _database(mh_mariadb_server)


@pytest.fixture
def mariadb(mh_mariadb: Database) -> Database:
    """A new, empty MariaDB database for this test (dropped after it). Also reachable as
    ``mh_mariadb``."""
    return mh_mariadb
