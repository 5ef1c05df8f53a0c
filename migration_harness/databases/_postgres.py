"""PostgreSQL: ``initdb`` into a temp directory, ``postgres`` in the foreground as a
tracked daemon, ``psql`` as the client.

PostgreSQL refuses to run as root (CI containers run as root), so there the server's
programs run as the unprivileged ``postgres`` user that the distributions' packages
create, through ``runuser``; the server's directory is made theirs.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from migration_harness.databases._api import (
    START_TIMEOUT_S,
    DatabaseError,
    Server,
    server_root,
)

if TYPE_CHECKING:
    import psutil

    from migration_harness.proc import StopReport
from migration_harness.databases._binaries import find_programs, give_to, run_as

SUPERUSER = "postgres"
#: pg_ctl's own bound on the start is START_TIMEOUT_S (-t); this much more for pg_ctl.
PG_CTL_EXTRA_S = 30.0
#: The account the server runs as when the harness runs as root.
SERVICE_ACCOUNT = "postgres"
INSTALL_HINT = (
    "install PostgreSQL's server (Debian/Ubuntu: `apt-get install postgresql`; macOS:"
    " `brew install postgresql`), or say where its programs are (PGBIN=<bindir>)"
)
# Tuned for throwaway data: nothing is flushed to disk, and a test may open many
# connections at once (racing migrators, lock holders).
SERVER_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
)
# Where distributions and Homebrew put the versioned server programs (not on PATH).
VERSIONED_BINDIRS = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
)
_VERSION_PART = re.compile(r"(?:^|[-@])(\d+)$")  # 15, pgsql-15, postgresql@16


def _version_key(path: str) -> tuple[int, ...]:
    found = (_VERSION_PART.search(part) for part in Path(path).parts)
    return tuple(int(match[1]) for match in found if match)


def candidate_bindirs() -> list[str]:
    """PGBIN (GitHub's Windows runners set it), then the distributions' and Homebrew's
    versioned directories, newest first; PATH is searched after these."""
    dirs = [os.environ["PGBIN"]] if os.environ.get("PGBIN") else []
    for pattern in VERSIONED_BINDIRS:
        dirs += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    return dirs


class PostgresServer(Server):
    engine = "postgresql"
    user = SUPERUSER

    def __init__(self, root: Path, programs: dict[str, str], run_as_user: list[str]) -> None:
        super().__init__(root)
        self.programs = programs
        self.prefix = run_as_user  # [] or ["runuser", "-u", "postgres", "--"]
        self.data = root / "data"
        self.detached = False  # started by pg_ctl, apart from this process (Windows)
        # Windows: postgres refuses an administrator's account, pg_ctl drops its rights
        self.through_pg_ctl = sys.platform == "win32"
        self._postmaster: psutil.Process | None = None

    @classmethod
    def create(
        cls, *, base: str | os.PathLike[str] | None, bindir: str | os.PathLike[str] | None
    ) -> PostgresServer:
        dirs = [os.fspath(bindir)] if bindir is not None else candidate_bindirs()
        programs = find_programs(
            ("initdb", "postgres", "pg_ctl", "psql"), dirs, INSTALL_HINT, search_path=bindir is None
        )
        prefix = run_as(SERVICE_ACCOUNT, "PostgreSQL refuses to run as root", INSTALL_HINT)
        root = server_root("postgresql", base, shared=bool(prefix))
        if prefix:
            give_to(SERVICE_ACCOUNT, root)
        return cls(root, programs, prefix)

    def _start(self) -> None:
        from migration_harness.proc import Daemon, DaemonStartError, ReadyLine, run

        if not self.data.exists():
            initdb = [
                *self.prefix, self.programs["initdb"], "-D", str(self.data), "-A", "trust",
                "-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync",
            ]  # fmt: skip
            result = run(initdb, timeout=START_TIMEOUT_S)
            if not result.ok:
                raise DatabaseError(f"postgresql: initdb failed:\n{result.describe()}")
        if self.through_pg_ctl:
            self._start_through_pg_ctl()
            return
        settings = [arg for setting in SERVER_SETTINGS for arg in ("-c", setting)]
        sockets = str(self.root)
        args = [
            *self.prefix, self.programs["postgres"], "-D", str(self.data), "-p", str(self.port),
            "-h", self.host, "-k", sockets, *settings,
        ]  # fmt: skip
        stop = [*self.prefix, self.programs["pg_ctl"], "stop", "-D", str(self.data), "-m", "fast"]
        self.daemon = Daemon(
            args,
            ready=ReadyLine("ready to accept connections"),
            start_timeout=START_TIMEOUT_S,
            stop_command=stop,
            name="postgres",
        )
        try:
            self.daemon.start()
        except DaemonStartError as exc:
            self.daemon = None
            raise DatabaseError(f"postgresql: the server did not start: {exc}") from None

    def _start_through_pg_ctl(self) -> None:
        """Windows: postgres refuses to run from an administrator's account (GitHub's
        runners use one); pg_ctl starts it with the administrator's rights dropped. The
        server then runs apart from this process (pg_ctl returns once it is ready), so
        :meth:`stop` stops it with pg_ctl and then ends whatever of it is left."""
        from migration_harness.proc import run

        options = " ".join(
            [f"-p {self.port}", f"-c listen_addresses={self.host}"]
            + [f"-c {setting}" for setting in SERVER_SETTINGS]
        )
        log = self.root / "server.log"
        start = [
            *self.prefix, self.programs["pg_ctl"], "start", "-D", str(self.data),
            "-l", str(log), "-w", "-t", str(int(START_TIMEOUT_S)), "-o", options,
        ]  # fmt: skip
        self.detached = True  # stop() must stop whatever started, even half-way
        result = run(start, timeout=START_TIMEOUT_S + PG_CTL_EXTRA_S)
        self._postmaster = _process(_postmaster_pid(self.data))
        if not result.ok:
            said = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""
            raise DatabaseError(
                f"postgresql: pg_ctl could not start the server:\n{result.describe()}\n"
                f"--- {log} ---\n{said}"
            )

    @property
    def pid(self) -> int | None:
        if self.detached:
            return self._postmaster.pid if self._postmaster is not None else None
        return super().pid

    def stop(self) -> StopReport | None:
        if self.owned and self.detached:
            self._stop_through_pg_ctl()
        return super().stop()

    def _stop_through_pg_ctl(self) -> None:
        from migration_harness.proc import kill_tree, run

        stop = [*self.prefix, self.programs["pg_ctl"], "stop", "-D", str(self.data), "-m", "fast"]
        run([*stop, "-w"], timeout=START_TIMEOUT_S)
        self.detached = False
        postmaster = self._postmaster or _process(_postmaster_pid(self.data))
        # is_running() compares start times: a pid reused since is left alone
        if postmaster is not None and postmaster.is_running():
            kill_tree(postmaster.pid)  # what pg_ctl left of the server it started

    def url(self, name: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{name}?sslmode=disable"

    def client(self, database: str | None) -> list[str]:
        return [
            self.programs["psql"], "--no-psqlrc", "--quiet", "--no-align", "--tuples-only",
            "--field-separator=\t", "--set=ON_ERROR_STOP=1", "--host", self.host,
            "--port", str(self.port), "--username", self.user,
            "--dbname", database or "postgres", "--file=-",
        ]  # fmt: skip

    def create_statement(self, name: str, template: str | None) -> str:
        source = _ident(template) if template else "template0"
        return f"CREATE DATABASE {_ident(name)} TEMPLATE {source};"

    def drop_statement(self, name: str) -> str:
        return f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE);"

    def copy(self, source: str, name: str) -> None:
        # A template must have no other session: a copy is taken between statements.
        self.sql(None, self.create_statement(name, source))

    def dump_statements(self) -> str:
        return DUMP_SQL


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Every user schema: columns in their order, indexes, constraints, then every row of every
# table as its quoted values, sorted (the server runs in the C locale: byte order). Values
# of date and time columns read "<time>": tools stamp their bookkeeping rows with the
# time they ran (sql-migrate's applied_at, Django's applied), which no two runs share.
_USER_SCHEMAS = "NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
_TIME_TYPES = (
    "('date', 'timestamp without time zone', 'timestamp with time zone',"
    " 'time without time zone', 'time with time zone')"
)
_DUMP_TEMPLATE = f"""
SELECT 'column ' || table_schema || '.' || table_name || '.' || column_name || ' ' || data_type
       || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END
       || coalesce(' default ' || column_default, '')
  FROM information_schema.columns WHERE table_schema {_USER_SCHEMAS}
 ORDER BY table_schema, table_name, ordinal_position;
SELECT 'index ' || schemaname || '.' || indexname || ': ' || indexdef
  FROM pg_indexes WHERE schemaname {_USER_SCHEMAS} ORDER BY 1;
SELECT 'constraint ' || n.nspname || '.' || c.conname || ': ' || pg_get_constraintdef(c.oid)
  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
 WHERE n.nspname {_USER_SCHEMAS} ORDER BY 1;
SELECT format('SELECT %L || concat_ws('','', %s) || '')'' FROM %I.%I ORDER BY 1',
              'row ' || c.table_schema || '.' || c.table_name || ' (',
              string_agg(CASE WHEN c.data_type IN {_TIME_TYPES} THEN quote_literal('<time>')
                              WHEN c.table_name || '.' || c.column_name IN ({{omit}})
                              THEN quote_literal('<omitted>')
                              ELSE format('quote_nullable(%I::text)', c.column_name) END,
                         ', ' ORDER BY c.ordinal_position),
              c.table_schema, c.table_name)
  FROM information_schema.columns c
  JOIN information_schema.tables t
    ON t.table_schema = c.table_schema AND t.table_name = c.table_name
 WHERE c.table_schema {_USER_SCHEMAS} AND t.table_type = 'BASE TABLE'
 GROUP BY c.table_schema, c.table_name
 ORDER BY c.table_schema, c.table_name
\\gexec
"""


def dump_sql(omit: tuple[str, ...] = ()) -> str:
    """The canonical dump's SQL; the values of the ``TABLE.COLUMN`` columns in ``omit``
    read ``<omitted>`` (an id a sequence gave: a rolled-back insert still advanced it)."""
    listed = ", ".join("'" + name.replace("'", "''") + "'" for name in omit) or "NULL"
    return _DUMP_TEMPLATE.replace("{omit}", listed)


DUMP_SQL = dump_sql()


def _postmaster_pid(data: Path) -> int | None:
    """The running server's pid: the first line of the data directory's postmaster.pid."""
    try:
        first = (data / "postmaster.pid").read_text(encoding="utf-8").split("\n", 1)[0]
    except OSError:
        return None
    return int(first) if first.strip().isdigit() else None


def _process(pid: int | None) -> psutil.Process | None:
    import psutil

    if pid is None:
        return None
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None
