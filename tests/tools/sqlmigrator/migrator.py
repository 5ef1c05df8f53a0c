"""A small SQL migrator for the database tests: PostgreSQL or MariaDB, by URL.

    migrator.py create URL VERSION     a database at VERSION (rows included)
    migrator.py migrate URL --to N     one step at a time, under a server lock
    migrator.py version URL            print the version
    migrator.py stamp URL VERSION      record VERSION without migrating

Version 0 holds notes; 1 adds a slug column filled from the body; 2 adds a tag table
with a tag per note; 3 adds an index. A step marks itself pending, runs, then records
its version; on PostgreSQL all of it is one transaction. MariaDB commits each DDL
statement by itself, so a step killed halfway stays pending, and whoever opens the
database next (under the lock) completes it: every statement of a step can run twice.
A database newer than it knows is refused.

SQLMIGRATOR_MUTANT names a deliberate defect: "no-lock" (no server lock, and steps
written as if it ran alone: racing migrators apply a step twice), "ignore-ahead"
(migrates a database from the future), "statement-commits" (each statement commits
alone and nothing completes a half-done step).
SQLMIGRATOR_PAUSE_S pauses after each statement of a step (a wide window for a kill).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any
from urllib.parse import unquote, urlsplit

LATEST = 3
LOCK_KEY = 4242
# MariaDB's named locks are one namespace for the whole server: the name carries the
# database's, as real tools do, so that migrators of different databases never collide.
LOCK_NAME = "sqlmigrator-{database}"
LOCK_WAIT_S = float(os.environ.get("SQLMIGRATOR_LOCK_WAIT_S", "10"))
BASE = [
    "CREATE TABLE note (id integer PRIMARY KEY, body varchar(200) NOT NULL)",
    "INSERT INTO note (id, body) VALUES (1, 'Hello'), (2, 'World')",
    "CREATE TABLE mh_version (version integer NOT NULL, pending integer)",
    "INSERT INTO mh_version (version) VALUES (0)",
]
# Each statement can run again after a crash (IF NOT EXISTS, NOT EXISTS).
STEPS = {
    1: [
        "ALTER TABLE note ADD COLUMN IF NOT EXISTS slug varchar(200)",
        "UPDATE note SET slug = lower(body)",
    ],
    2: [
        "CREATE TABLE IF NOT EXISTS tag (note_id integer NOT NULL, name varchar(50) NOT NULL)",
        "INSERT INTO tag (note_id, name) SELECT id, 'greeting' FROM note"
        " WHERE NOT EXISTS (SELECT 1 FROM tag WHERE tag.note_id = note.id)",
    ],
    3: ["CREATE INDEX IF NOT EXISTS tag_name ON tag (name)"],
}
MUTANT = os.environ.get("SQLMIGRATOR_MUTANT", "")
PAUSE_S = float(os.environ.get("SQLMIGRATOR_PAUSE_S", "0"))


def connect(url: str) -> tuple[str, Any]:
    parts = urlsplit(url)
    host, port, user = parts.hostname, parts.port, unquote(parts.username or "")
    name = parts.path.lstrip("/")
    if parts.scheme.startswith("postgres"):
        import pg8000.dbapi

        return "postgresql", pg8000.dbapi.connect(host=host, port=port, user=user, database=name)
    import pymysql

    return "mariadb", pymysql.connect(host=host, port=port, user=user, database=name)


def lock(engine: str, connection: Any, cursor: Any) -> None:
    """Take the server lock, waiting up to LOCK_WAIT_S; refuse clearly if it stays held."""
    if MUTANT == "no-lock":
        return
    busy = SystemExit(
        f"sqlmigrator: another migration holds the lock (waited {LOCK_WAIT_S:g} s); try again"
    )
    if engine == "postgresql":
        cursor.execute(f"SET lock_timeout = '{int(LOCK_WAIT_S * 1000)}ms'")
        try:
            cursor.execute(f"SELECT pg_advisory_lock({LOCK_KEY})")
        except Exception as exc:  # the driver's error for "canceling ... lock timeout"
            if "lock timeout" not in str(exc):
                raise
            raise busy from None
        cursor.execute("SET lock_timeout = 0")
        return
    cursor.execute("SELECT DATABASE()")
    name = LOCK_NAME.format(database=cursor.fetchone()[0])
    cursor.execute(f"SELECT GET_LOCK('{name}', {LOCK_WAIT_S:g})")
    if cursor.fetchone()[0] != 1:
        raise busy


def state(cursor: Any) -> tuple[int, int | None]:
    cursor.execute("SELECT version, pending FROM mh_version")
    version, pending = cursor.fetchone()
    return int(version), pending


def statements(step: int) -> list[str]:
    if MUTANT != "no-lock":
        return STEPS[step]
    # Written as if it always ran alone: no guard lets a second run of a step pass.
    return [s.replace(" IF NOT EXISTS", "").split(" WHERE NOT EXISTS")[0] for s in STEPS[step]]


def run_step(connection: Any, cursor: Any, step: int) -> None:
    if MUTANT != "statement-commits":
        cursor.execute("UPDATE mh_version SET pending = %s", (step,))
    for statement in statements(step):
        cursor.execute(statement)
        if MUTANT == "statement-commits":
            connection.commit()
        if PAUSE_S:
            time.sleep(PAUSE_S)
    cursor.execute("UPDATE mh_version SET version = %s, pending = NULL", (step,))
    connection.commit()


def recover(connection: Any, cursor: Any) -> int:
    """Complete a step a crash left pending; return the version."""
    version, pending = state(cursor)
    if pending is not None and MUTANT != "statement-commits":
        run_step(connection, cursor, int(pending))
        version = int(pending)
    return version


def main(argv: list[str]) -> int:
    command, url = argv[0], argv[1]
    engine, connection = connect(url)
    cursor = connection.cursor()
    if command == "create":
        for statement in BASE:
            cursor.execute(statement)
        connection.commit()
        for step in range(1, int(argv[2]) + 1):
            run_step(connection, cursor, step)
        return 0
    if command == "stamp":
        cursor.execute("UPDATE mh_version SET version = %s, pending = NULL", (int(argv[2]),))
        connection.commit()
        return 0
    lock(engine, connection, cursor)
    connection.commit()
    at = recover(connection, cursor)
    if command == "version":
        print(at)
        return 0
    target = int(argv[argv.index("--to") + 1])
    if at > LATEST and MUTANT != "ignore-ahead":
        print(
            f"sqlmigrator: the database is at version {at}, newer than this migrator"
            f" knows (latest {LATEST}); refusing to touch it",
            file=sys.stderr,
        )
        return 1
    for step in range(at + 1, min(target, LATEST) + 1):
        run_step(connection, cursor, step)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
