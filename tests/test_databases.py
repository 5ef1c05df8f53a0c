"""Throwaway database servers: real PostgreSQL and MariaDB, started and stopped here.

Tests skip (with what to install) where an engine's programs are missing; .ci/run
installs both.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from migration_harness.databases import (
    Database,
    DatabaseError,
    DatabaseUnavailable,
    Server,
    start_server,
)
from migration_harness.locks import LockHolderError
from tests import sub

ENGINES = ("postgres", "mariadb")
SCHEMA = {
    "postgres": "CREATE TABLE note (id integer PRIMARY KEY, body text NOT NULL);",
    "mariadb": "CREATE TABLE note (id integer PRIMARY KEY, body text NOT NULL);",
}


@pytest.fixture(params=ENGINES)
def database(request: pytest.FixtureRequest) -> Database:
    value: Database = request.getfixturevalue(request.param)
    return value


@pytest.fixture(params=ENGINES)
def server(request: pytest.FixtureRequest) -> Server:
    value: Server = request.getfixturevalue(f"{request.param}_server")
    return value


def notes(database: Database, *rows: tuple[int, str]) -> Database:
    database.sql("CREATE TABLE note (id integer PRIMARY KEY, body text NOT NULL);")
    for row in rows:
        database.sql(f"INSERT INTO note (id, body) VALUES ({row[0]}, '{row[1]}');")
    return database


def test_a_dump_shows_the_schema_and_every_row(database: Database) -> None:
    notes(database, (2, "second"), (1, "first"))
    dump = database.dump()
    assert "note.id" in dump and "note.body" in dump, dump
    rows = [line for line in dump.splitlines() if line.startswith("row ")]
    assert len(rows) == 2 and "first" in rows[0] and "second" in rows[1], dump


def test_dumps_ignore_the_order_rows_were_written_in(server: Server) -> None:
    one = notes(server.create_database(), (1, "a"), (2, "b"))
    other = notes(server.create_database(), (2, "b"), (1, "a"))
    assert one.dump() == other.dump()


def test_dumps_differ_when_a_row_or_a_column_differs(server: Server) -> None:
    base = notes(server.create_database(), (1, "a")).dump()
    changed_row = notes(server.create_database(), (1, "b")).dump()
    added_column = notes(server.create_database(), (1, "a"))
    added_column.sql("ALTER TABLE note ADD COLUMN slug text;")
    assert changed_row != base
    assert added_column.dump() != base


def test_a_copy_has_the_same_content_and_lives_apart(server: Server) -> None:
    source = notes(server.create_database(), (1, "a"))
    copy = server.create_database(template=source.name)
    assert copy.dump() == source.dump()
    copy.sql("INSERT INTO note (id, body) VALUES (2, 'b');")
    assert copy.dump() != source.dump()
    assert "(2" not in source.dump().replace("('2'", "(2")


def test_each_test_gets_a_new_empty_database(database: Database) -> None:
    assert not [line for line in database.dump().splitlines() if line.strip()]
    assert database.name in database.url


def test_a_failing_statement_says_what_the_server_said(database: Database) -> None:
    with pytest.raises(DatabaseError) as caught:
        database.sql("SELECT * FROM no_such_table;")
    assert "no_such_table" in str(caught.value)
    assert database.name in str(caught.value)


def test_psql_reaches_the_database_by_its_url(postgres: Database) -> None:
    postgres.sql("CREATE TABLE t (n integer); INSERT INTO t VALUES (7);")
    psql = postgres.server.client(None)[0]  # type: ignore[attr-defined]
    done = sub.run([psql, "-X", "-At", postgres.url, "-c", "SELECT n FROM t"],
                   capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "7"


def test_placeholders_name_the_database(database: Database) -> None:
    values = database.placeholders()
    assert values["db_name"] == database.name
    assert values["db_port"] == str(database.port)
    assert values["database_url"] == database.url
    assert f":{database.port}/{database.name}" in database.url


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_stop_ends_every_server_process_and_removes_its_data(engine: str) -> None:
    try:
        server = start_server(engine)
    except DatabaseUnavailable as exc:
        pytest.skip(str(exc))
    with server:
        assert server.pid is not None
        leader = psutil.Process(server.pid)
        tree = [leader, *leader.children(recursive=True)]
        server.create_database().sql("SELECT 1;")
        assert server.root.is_dir()
    _gone, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, alive
    assert not server.root.exists()


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_missing_programs_are_unavailable_with_what_to_install(engine: str, tmp_path: Path) -> None:
    if sys.platform == "win32" and engine == "mariadb":
        pytest.skip("no MariaDB server is started on Windows yet")
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.raises(DatabaseUnavailable, match="install"):
        start_server(engine, bindir=empty, base=tmp_path)


def test_an_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="expected one of postgresql, mariadb"):
        start_server("oracle")


def test_a_downstream_suite_uses_the_fixtures_and_leaves_no_server(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            def test_postgres(postgres):
                postgres.sql("CREATE TABLE t (n integer);")
                assert "t.n" in postgres.dump()

            def test_mariadb(mariadb):
                mariadb.sql("CREATE TABLE t (n integer);")
                assert "t.n" in mariadb.dump()
            """
        )
    )
    result = pytester.runpytest_subprocess("--mh-no-orphans", "-p", "no:randomly", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("error", 0) == 0, result.stdout.str()
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == 2


SERVER_LOCKS = [
    # style, fixture, holder keyword, probe that answers "1" only while the lock is free
    ("postgresql-advisory", "postgres", {"key": 7},
     "SELECT CASE WHEN pg_try_advisory_lock(7) THEN 1 ELSE 0 END;"),
    ("postgresql-table", "postgres", {"table": "note"},
     "SET lock_timeout = '300ms'; SELECT count(*) >= 0 FROM note;"),
    ("mariadb-get-lock", "mariadb", {"name": "migrations"}, "SELECT IS_FREE_LOCK('migrations');"),
]  # fmt: skip


def lock_is_free(database: Database, probe: str) -> bool:
    try:
        said = database.sql(probe).strip()
    except DatabaseError as exc:
        assert "lock timeout" in str(exc), exc
        return False
    return said in ("1", "t")


@pytest.mark.parametrize(("style", "engine", "operand", "probe"), SERVER_LOCKS)
def test_a_server_lock_is_held_until_released(
    request: pytest.FixtureRequest,
    lock_holder: object,
    style: str,
    engine: str,
    operand: dict[str, object],
    probe: str,
) -> None:
    database: Database = request.getfixturevalue(engine)
    database.sql("CREATE TABLE note (id integer);")
    holder = lock_holder(style, database=database, **operand)  # type: ignore[operator]
    assert not lock_is_free(database, probe)
    holder.release()
    assert lock_is_free(database, probe)


@pytest.mark.parametrize(("style", "engine", "operand", "probe"), SERVER_LOCKS)
def test_a_crashed_holders_server_lock_is_freed_by_the_server(
    request: pytest.FixtureRequest,
    lock_holder: object,
    style: str,
    engine: str,
    operand: dict[str, object],
    probe: str,
) -> None:
    database: Database = request.getfixturevalue(engine)
    database.sql("CREATE TABLE note (id integer);")
    holder = lock_holder(style, database=database, **operand)  # type: ignore[operator]
    holder.crash()
    assert not holder.alive
    assert lock_is_free(database, probe)


def test_a_server_lock_another_session_holds_is_not_taken(
    postgres: Database, lock_holder: object
) -> None:
    lock_holder("postgresql-advisory", database=postgres, key=9)  # type: ignore[operator]
    with pytest.raises(LockHolderError, match="another session holds it"):
        lock_holder("postgresql-advisory", database=postgres, key=9, timeout=0.5)  # type: ignore[operator]


def test_a_server_lock_style_without_its_database_says_how_to_call_it(lock_holder: object) -> None:
    with pytest.raises(ValueError, match=r"database=<a Database.*key=\.\.\."):
        lock_holder("postgresql-advisory", key=1)  # type: ignore[operator]


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_a_private_tmpdir_does_not_stop_a_server_that_runs_as_another_user(
    engine: str, tmp_path: Path
) -> None:
    # Test runners give each run a TMPDIR of mode 0700; under root the server runs as
    # its own user, who cannot reach into it.
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    code = (
        "import sys\n"
        "from migration_harness.databases import DatabaseUnavailable, start_server\n"
        "try:\n"
        f"    server = start_server({engine!r})\n"
        "except DatabaseUnavailable as exc:\n"
        "    sys.exit(f'unavailable: {exc}')\n"
        "with server:\n"
        "    print(server.create_database().sql('SELECT 41 + 1;').strip())\n"
    )
    done = sub.run([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(private)},
                   capture_output=True, text=True, timeout=300)  # fmt: skip
    if done.returncode and "unavailable:" in done.stderr:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
    assert list(private.iterdir()) == []


def test_a_dump_leaves_out_the_time_a_row_was_stamped_with(server: Server) -> None:
    # Migration tools stamp their bookkeeping rows (sql-migrate's applied_at).
    one, other = server.create_database(), server.create_database()
    for database, stamp in ((one, "2001-01-01 10:00:00"), (other, "2030-06-30 23:59:59")):
        database.sql("CREATE TABLE applied (id varchar(40), at timestamp);")
        database.sql(f"INSERT INTO applied VALUES ('1_init.sql', '{stamp}');")
    assert one.dump() == other.dump()
    assert "'1_init.sql',<time>" in one.dump()


def test_versioned_program_directories_are_tried_newest_first() -> None:
    from migration_harness.databases._postgres import _version_key

    found = [
        "/usr/lib/postgresql/9/bin",
        "/opt/homebrew/opt/postgresql@16/bin",
        "/usr/lib/postgresql/15/bin",
        "/usr/pgsql-14/bin",
    ]
    assert sorted(found, key=_version_key, reverse=True) == [
        "/opt/homebrew/opt/postgresql@16/bin",
        "/usr/lib/postgresql/15/bin",
        "/usr/pgsql-14/bin",
        "/usr/lib/postgresql/9/bin",
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX executable bits")
def test_programs_a_package_spreads_over_sbin_and_bin_are_found(tmp_path: Path) -> None:
    from migration_harness.databases._binaries import find_programs

    sbin, bin_ = tmp_path / "sbin", tmp_path / "bin"
    for folder, name in ((sbin, "mariadbd"), (bin_, "mariadb")):
        folder.mkdir()
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    dirs = [str(sbin), str(bin_)]
    found = find_programs(("mariadbd", "mariadb"), dirs, "hint", search_path=False, together=False)
    assert found == {"mariadbd": str(sbin / "mariadbd"), "mariadb": str(bin_ / "mariadb")}
    with pytest.raises(DatabaseUnavailable, match="not found"):  # PostgreSQL's rule: one dir
        find_programs(("mariadbd", "mariadb"), dirs, "hint", search_path=False)


def test_a_postgresql_server_started_through_pg_ctl_is_stopped_with_its_data() -> None:
    # The way it starts on Windows (pg_ctl drops an administrator's rights), run here:
    # the server runs apart from this process, and stop() still ends it.
    from migration_harness.databases._postgres import PostgresServer

    try:
        server = PostgresServer.create(base=None, bindir=None)
    except DatabaseUnavailable as exc:
        pytest.skip(str(exc))
    server.through_pg_ctl = True
    with server.start():
        assert server.daemon is None and server.pid is not None
        postmaster = psutil.Process(server.pid)
        tree = [postmaster, *postmaster.children(recursive=True)]
        database = server.create_database()
        database.sql("CREATE TABLE t (n integer); INSERT INTO t VALUES (1);")
        assert "row public.t ('1')" in database.dump()
    _gone, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, alive
    assert not server.root.exists()
