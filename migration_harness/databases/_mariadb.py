"""MariaDB: ``mariadb-install-db`` into a temp directory, ``mariadbd`` in the foreground
as a tracked daemon, ``mariadb`` as the client (the ``mysql*`` names where only those
are installed). Under root the server runs as the ``mysql`` user the packages create.
"""

from __future__ import annotations

import os
from pathlib import Path

from migration_harness.databases._api import (
    START_TIMEOUT_S,
    DatabaseError,
    DatabaseUnavailable,
    Server,
    server_root,
)
from migration_harness.databases._binaries import find_programs, give_to, run_as

SUPERUSER = "root"
SERVICE_ACCOUNT = "mysql"
INSTALL_HINT = (
    "install MariaDB's server (Debian/Ubuntu: `apt-get install mariadb-server`; macOS:"
    " `brew install mariadb`), or say where its programs are"
)
# mariadbd is in sbin on Debian, which is not on every user's PATH.
SYSTEM_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")
# The programs by their MariaDB names, and the MySQL-era names older packages install.
NAMES = {
    "install": ("mariadb-install-db", "mysql_install_db"),
    "server": ("mariadbd", "mysqld"),
    "client": ("mariadb", "mysql"),
    "dump": ("mariadb-dump", "mysqldump"),
}
# Tuned for throwaway data: nothing is flushed to disk, many connections allowed.
SERVER_SETTINGS = (
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-doublewrite=0",
    "--skip-log-bin",
    "--max-connections=200",
    "--innodb-buffer-pool-size=32M",
    "--skip-name-resolve",
)


def _programs(dirs: list[str], search_path: bool) -> dict[str, str]:
    for variant in (0, 1):
        names = tuple(names[variant] for names in NAMES.values())
        try:
            found = find_programs(
                names, dirs, INSTALL_HINT, search_path=search_path, together=False
            )
        except DatabaseUnavailable:
            if variant == 1:
                raise
            continue
        return dict(zip(NAMES, (found[name] for name in names), strict=True))
    raise AssertionError("unreachable")


def client_program(dirs: list[str]) -> str:
    """The command-line client alone (``mariadb``, else ``mysql``), for a server's user."""
    try:
        return find_programs(NAMES["client"][:1], dirs, INSTALL_HINT)[NAMES["client"][0]]
    except DatabaseUnavailable:
        return find_programs(NAMES["client"][1:], dirs, INSTALL_HINT)[NAMES["client"][1]]


class MariaDBServer(Server):
    engine = "mariadb"
    user = SUPERUSER

    def __init__(self, root: Path, programs: dict[str, str], prefix: list[str]) -> None:
        super().__init__(root)
        self.programs = programs
        self.prefix = prefix
        self.data = root / "data"

    @classmethod
    def create(
        cls, *, base: str | os.PathLike[str] | None, bindir: str | os.PathLike[str] | None
    ) -> MariaDBServer:
        dirs = [os.fspath(bindir)] if bindir is not None else list(SYSTEM_DIRS)
        programs = _programs(dirs, search_path=bindir is None)
        prefix = run_as(SERVICE_ACCOUNT, "MariaDB should not run as root", INSTALL_HINT)
        root = server_root("mariadb", base, shared=bool(prefix))
        if prefix:
            give_to(SERVICE_ACCOUNT, root)
        return cls(root, programs, prefix)

    def _start(self) -> None:
        from migration_harness.proc import Daemon, DaemonStartError, ReadyLine, run

        if not self.data.exists():
            install = [
                *self.prefix, self.programs["install"], "--no-defaults",
                f"--datadir={self.data}", "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ]  # fmt: skip
            result = run(install, env=self._env(), timeout=START_TIMEOUT_S)
            if not result.ok:
                raise DatabaseError(f"mariadb: mariadb-install-db failed:\n{result.describe()}")
        args = [
            *self.prefix, self.programs["server"], "--no-defaults", f"--datadir={self.data}",
            f"--socket={self.root / 'mariadbd.sock'}", f"--pid-file={self.root / 'mariadbd.pid'}",
            f"--port={self.port}", f"--bind-address={self.host}", *SERVER_SETTINGS,
        ]  # fmt: skip
        self.daemon = Daemon(
            args,
            env=self._env(),
            ready=ReadyLine("ready for connections"),
            start_timeout=START_TIMEOUT_S,
            name="mariadbd",
        )
        try:
            self.daemon.start()
        except DaemonStartError as exc:
            self.daemon = None
            raise DatabaseError(f"mariadb: the server did not start: {exc}") from None
        # The installer's root accounts are for localhost; TCP from 127.0.0.1 needs its own.
        self.sql(
            None,
            f"CREATE USER IF NOT EXISTS '{self.user}'@'{self.host}';"
            f" GRANT ALL ON *.* TO '{self.user}'@'{self.host}' WITH GRANT OPTION;",
            via_socket=True,
        )

    def _env(self) -> dict[str, str]:
        # Its temporary files go to TMPDIR, which may be a directory private to the user
        # that runs the harness (test runners make one): the server's own directory
        # is where its user can write.
        return {**os.environ, "TMPDIR": str(self.root)}

    def url(self, name: str) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{name}"

    def client(self, database: str | None, *, via_socket: bool = False) -> list[str]:
        where = (
            [f"--socket={self.root / 'mariadbd.sock'}"]
            if via_socket
            else [f"--host={self.host}", f"--port={self.port}", "--protocol=TCP"]
        )
        return [
            self.programs["client"], "--no-defaults", "--batch", "--skip-column-names",
            *where, f"--user={self.user}", *([f"--database={database}"] if database else []),
        ]  # fmt: skip

    def sql(self, database: str | None, statements: str, *, via_socket: bool = False) -> str:
        from migration_harness.proc import run

        args = self.client(database, via_socket=via_socket)
        result = run([*self.prefix, *args] if via_socket else args, input=statements)
        if not result.ok:
            where = f"database {database}" if database else "the server"
            raise DatabaseError(f"mariadb: SQL failed on {where}:\n{result.describe()}")
        return result.stdout

    def create_statement(self, name: str, template: str | None) -> str:
        return f"CREATE DATABASE {_ident(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"

    def drop_statement(self, name: str) -> str:
        return f"DROP DATABASE IF EXISTS {_ident(name)};"

    def copy(self, source: str, name: str) -> None:
        from migration_harness.proc import run

        self.sql(None, self.create_statement(name, None))
        dump = [
            self.programs["dump"], "--no-defaults", f"--host={self.host}", f"--port={self.port}",
            "--protocol=TCP", f"--user={self.user}", "--routines", "--triggers", "--events",
            "--single-transaction", source,
        ]  # fmt: skip
        result = run(dump)
        if not result.ok:
            raise DatabaseError(f"mariadb: copying {source} failed:\n{result.describe()}")
        self.sql(name, result.stdout)

    def dump_statements(self) -> str:
        return DUMP_SCHEMA_SQL

    def dump(self, database: str) -> str:
        """Schema lines, then each table's rows (each row as its quoted values), sorted
        here: the server's collations need not be byte order. Two client runs: the
        schema with every table's columns, then every table's rows."""
        schema, _, listing = self.sql(database, DUMP_SCHEMA_SQL + COLUMNS_SQL).partition(
            COLUMNS_MARK + "\n"
        )
        columns: dict[str, list[str]] = {}
        for line in listing.splitlines():
            table, column, data_type = line.split("\t")
            value = "'<time>'" if data_type in TIME_TYPES else f"QUOTE({_ident(column)})"
            columns.setdefault(table, []).append(value)
        selects = []
        for table, values in columns.items():
            quoted = ", ".join(values)
            label = _string(f"row {table} (")
            selects.append(
                f"SELECT CONCAT({label}, CONCAT_WS(',', {quoted}), ')') FROM {_ident(table)};"
            )
        rows = self.sql(database, "\n".join(selects)).splitlines() if selects else []
        return schema + "".join(line + "\n" for line in sorted(rows))


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


DUMP_SCHEMA_SQL = """
SELECT CONCAT('column ', table_name, '.', column_name, ' ', column_type,
              IF(is_nullable = 'NO', ' not null', ''),
              IFNULL(CONCAT(' default ', column_default), ''),
              IF(extra = '', '', CONCAT(' ', extra)))
  FROM information_schema.columns WHERE table_schema = DATABASE()
 ORDER BY table_name, ordinal_position;
SELECT CONCAT('index ', table_name, '.', index_name, IF(non_unique = 0, ' unique', ''), ': ',
              GROUP_CONCAT(column_name ORDER BY seq_in_index SEPARATOR ', '))
  FROM information_schema.statistics WHERE table_schema = DATABASE()
 GROUP BY table_name, index_name, non_unique ORDER BY table_name, index_name;
"""
# Values of these columns read "<time>": tools stamp their bookkeeping rows with the time
# they ran, which no two runs share.
TIME_TYPES = ("date", "datetime", "timestamp", "time", "year")
# After the schema lines: a mark, then "table<TAB>column<TAB>type" for every column.
COLUMNS_MARK = "-- columns --"
COLUMNS_SQL = f"""
SELECT '{COLUMNS_MARK}';
SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
  JOIN information_schema.tables t
    ON t.table_schema = c.table_schema AND t.table_name = c.table_name
 WHERE c.table_schema = DATABASE() AND t.table_type = 'BASE TABLE'
 ORDER BY c.table_name, c.ordinal_position;
"""
