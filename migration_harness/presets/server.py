"""The commands a framework lacks, for a database on a PostgreSQL or MariaDB server.

    python -m migration_harness.presets.server version URL QUERY
    python -m migration_harness.presets.server execute URL STATEMENT
    python -m migration_harness.presets.server dump URL [--omit TABLE.COLUMN ...]

The server-side twin of :mod:`migration_harness.presets.sqlite`: ``version`` prints the
single value ``QUERY`` returns (the last applied migration, from the framework's
bookkeeping table), ``execute`` runs one statement (a spec's ``stamp``). ``URL`` is the
spec's ``{database_url}`` (``postgresql://...`` or ``mysql://...``). The engine's own
command-line client (``psql``, ``mariadb``) does the work, found where the harness finds
the server's programs, so no Python database driver is needed. ``dump`` is the harness's
canonical dump with some columns' values left out (PostgreSQL); a spec that needs none
leaves ``dump`` out and gets the canonical dump itself.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from migration_harness.errors import MigrationHarnessError

POSTGRES_SCHEMES = ("postgresql", "postgres")
MARIADB_SCHEMES = ("mysql", "mariadb")
#: How long one query may take: the server is local, but a busy CI runner is slow.
CLIENT_TIMEOUT_S = 120.0


class ServerQueryError(MigrationHarnessError):
    """The client could not run the statement; the message says what the server said."""


@dataclass(frozen=True)
class Address:
    """Where a ``{database_url}`` points."""

    engine: str  # "postgresql" or "mariadb"
    host: str
    port: int | None
    user: str
    password: str
    name: str

    @classmethod
    def parse(cls, url: str) -> Address:
        parts = urlsplit(url)
        scheme = parts.scheme.lower().split("+", 1)[0]
        if scheme in POSTGRES_SCHEMES:
            engine = "postgresql"
        elif scheme in MARIADB_SCHEMES:
            engine = "mariadb"
        else:
            raise ServerQueryError(
                f"{url}: expected a postgresql:// or mysql:// URL (the spec's {{database_url}})"
            )
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ServerQueryError(f"{url}: no database name in the URL's path")
        return cls(
            engine=engine,
            host=parts.hostname or "127.0.0.1",
            port=parts.port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            name=name,
        )


def rows(url: str, statement: str) -> list[list[str]]:
    """The rows ``statement`` returns on the database at ``url``, each a list of its values
    as the client prints them."""
    return [line.split("\t") for line in _output(url, statement).splitlines() if line]


def dump(url: str, omit: tuple[str, ...]) -> str:
    """The harness's canonical dump of a PostgreSQL database, ``omit``'s columns left out."""
    from migration_harness.databases._postgres import dump_sql

    if Address.parse(url).engine != "postgresql":
        raise ServerQueryError(
            f"{url}: dump --omit runs on PostgreSQL only; leave `dump` out of the spec for "
            "the harness's own dump"
        )
    return _output(url, dump_sql(omit), script=True)


def _output(url: str, statement: str, *, script: bool = False) -> str:
    address = Address.parse(url)
    argv, env = _client(address, statement, script=script)
    try:
        result = subprocess.run(
            argv,
            input=statement if script else None,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerQueryError(f"{argv[0]}: {exc}") from None
    if result.returncode != 0:
        said = result.stderr.strip() or f"exit {result.returncode}"
        raise ServerQueryError(f"{address.engine} database {address.name}: {said}")
    return result.stdout


def _client(
    address: Address, statement: str, *, script: bool = False
) -> tuple[list[str], dict[str, str]]:
    """The engine's client running ``statement`` (rows tab-separated, no headers);
    ``script``: psql reads it from stdin (where backslash commands mix with SQL)."""
    from migration_harness.databases._binaries import find_programs

    port = [str(address.port)] if address.port is not None else []
    if address.engine == "postgresql":
        from migration_harness.databases._postgres import INSTALL_HINT, candidate_bindirs

        psql = find_programs(("psql",), candidate_bindirs(), INSTALL_HINT)["psql"]
        argv = [
            psql, "--no-psqlrc", "--quiet", "--no-align", "--tuples-only",
            "--field-separator=\t", "--set=ON_ERROR_STOP=1", "--host", address.host,
            *(["--port", *port] if port else []), "--username", address.user or "postgres",
            "--dbname", address.name,
            *(["--file=-"] if script else ["--command", statement]),
        ]  # fmt: skip
        return argv, ({"PGPASSWORD": address.password} if address.password else {})
    from migration_harness.databases._mariadb import SYSTEM_DIRS, client_program

    argv = [
        client_program(list(SYSTEM_DIRS)), "--no-defaults", "--batch", "--skip-column-names",
        "--host", address.host, *(["--port", *port] if port else []),
        "--user", address.user or "root", "--execute", statement, address.name,
    ]  # fmt: skip
    return argv, ({"MYSQL_PWD": address.password} if address.password else {})


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "dump":
            print(dump(args.url, tuple(args.omit)), end="")
            return 0
        found = rows(args.url, args.statement)
    except MigrationHarnessError as exc:  # the client's errors and DatabaseUnavailable
        print(f"server: {exc}", file=sys.stderr)
        return 1
    if args.command == "execute":
        return 0
    if not found or not found[0] or found[0][0] in ("", "NULL"):
        print(f"server: the query found no version: {args.statement}", file=sys.stderr)
        return 1
    print(found[0][0])
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m migration_harness.presets.server",
        description="version and stamp commands for a database on a PostgreSQL or MariaDB server",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    version = commands.add_parser("version", help="print the one value QUERY returns")
    version.add_argument("url", help="the database's URL ({database_url})")
    version.add_argument("statement", metavar="QUERY")
    execute = commands.add_parser("execute", help="run one statement (committed at once)")
    execute.add_argument("url", help="the database's URL ({database_url})")
    execute.add_argument("statement", metavar="STATEMENT")
    dumping = commands.add_parser("dump", help="the canonical dump, some columns left out")
    dumping.add_argument("url", help="a PostgreSQL database's URL ({database_url})")
    dumping.add_argument(
        "--omit",
        action="append",
        default=[],
        metavar="TABLE.COLUMN",
        help="a column whose values differ between equal databases (a sequence's ids)",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
