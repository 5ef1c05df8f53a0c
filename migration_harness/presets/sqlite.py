"""The commands a SQLite-backed framework lacks, for any SQLite database file.

    python -m migration_harness.presets.sqlite version DB QUERY
    python -m migration_harness.presets.sqlite execute DB STATEMENT
    python -m migration_harness.presets.sqlite dump DB [--omit TABLE.COLUMN ...]

``version`` prints the single value ``QUERY`` returns (the last applied migration, read
from the framework's bookkeeping table). ``execute`` runs one statement and commits (a
spec's ``stamp``: record a migration from the future). ``dump`` prints the logical content:
every table's columns and indexes, then its rows in sorted order, one JSON array per line.
It reads columns, not the ``CREATE`` text, which a migration that adds or drops a column
rewrites in ways that say nothing about the data. ``--omit`` leaves out columns whose
values differ between equal databases (the time a migration was applied).

Python's own ``sqlite3`` module does the work: no ``sqlite3`` program is needed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

#: SQLite's own tables: counters and statistics, not content.
INTERNAL_PREFIXES = ("sqlite_",)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    db = Path(args.db)
    if not db.is_file():
        print(f"sqlite: no database file at {db}", file=sys.stderr)
        return 1
    try:
        # Autocommit (`execute` commits at once); a connection's own `with` does not close.
        with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as connection:
            if args.command == "version":
                return _print_version(connection, args.query)
            if args.command == "execute":
                connection.execute(args.statement)
                return 0
            for line in dump_lines(connection, omit=args.omit):
                print(line)
            return 0
    except sqlite3.Error as exc:
        print(f"sqlite: {db}: {exc}", file=sys.stderr)
        return 1


def dump_lines(connection: sqlite3.Connection, omit: Collection[str] = ()) -> Iterator[str]:
    """The database's logical content, the same for equal databases."""
    for table in _tables(connection):
        columns = [c for c in _columns(connection, table) if f"{table}.{c[0]}" not in omit]
        yield f"table {table}"
        for name, kind, notnull, default, pk in columns:
            yield f"  column {name} {kind or '-'} notnull={notnull} default={default} pk={pk}"
        for index in _indexes(connection, table):
            yield f"  index {index}"
        if columns:
            names = ", ".join(_quote(c[0]) for c in columns)
            rows = connection.execute(f"SELECT {names} FROM {_quote(table)}").fetchall()
            for row in sorted(json.dumps(list(r), default=repr) for r in rows):
                yield "  " + row


def _print_version(connection: sqlite3.Connection, query: str) -> int:
    row = connection.execute(query).fetchone()
    if row is None or row[0] is None:
        print(f"sqlite: the query found no version: {query}", file=sys.stderr)
        return 1
    print(row[0])
    return 0


def _tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return sorted(r[0] for r in rows if not r[0].startswith(INTERNAL_PREFIXES))


def _columns(connection: sqlite3.Connection, table: str) -> list[tuple[str, str, int, str, int]]:
    rows = connection.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    return [(r[1], r[2], r[3], r[4], r[5]) for r in rows]


def _indexes(connection: sqlite3.Connection, table: str) -> list[str]:
    found = []
    for _seq, name, unique, *_ in connection.execute(f"PRAGMA index_list({_quote(table)})"):
        columns = [r[2] for r in connection.execute(f"PRAGMA index_info({_quote(name)})")]
        # An automatic index's name carries a counter; its columns say what it is.
        label = "(auto)" if name.startswith("sqlite_autoindex_") else name
        found.append(f"{label} unique={unique} on {', '.join(map(str, columns))}")
    return sorted(found)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m migration_harness.presets.sqlite",
        description="version, stamp and dump commands for a SQLite database file",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    version = commands.add_parser("version", help="print the one value QUERY returns")
    version.add_argument("db")
    version.add_argument("query")
    execute = commands.add_parser("execute", help="run one statement and commit")
    execute.add_argument("db")
    execute.add_argument("statement")
    dump = commands.add_parser("dump", help="print the logical content in a stable order")
    dump.add_argument("db")
    dump.add_argument(
        "--omit",
        action="append",
        default=[],
        metavar="TABLE.COLUMN",
        help="leave out a column whose values differ between equal databases",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
