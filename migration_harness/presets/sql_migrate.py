"""sql-migrate (rubenv/sql-migrate) on a SQLite database.

``init --preset sql-migrate`` reads the project's ``dbconfig.yml`` (``--config-file``), the
environment (``--env-name``, default ``development``), its dialect (``sqlite3`` only), its
migrations directory (``dir:``, default ``migrations``, relative to the project root, where
sql-migrate runs) and its bookkeeping table (``table:``, default ``gorp_migrations``). The
versions are the migration files' names in sql-migrate's order.

sql-migrate has no "migrate to version X" command: only ``up``/``down`` with ``-limit=N``.
The adapter turns a target version into that count, and points sql-migrate at the case's
database without touching the user's tree::

    python -m migration_harness.presets.sql_migrate migrate DB TARGET --dir DIR \\
        [--env NAME] [--table NAME]

It reads the applied ids from DB, writes a temporary dbconfig beside DB (the case's
scratch directory; removed after) and runs ``sql-migrate up|down -config=... -limit=N``.
Reaching the newest migration is plain ``sql-migrate up``, the command a deploy runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from migration_harness.errors import MigrationHarnessError
from migration_harness.presets import DATABASES, SQLITE, PresetError, database
from migration_harness.presets import OPTIONS as PRESET_OPTIONS
from migration_harness.target import VERSION_NAME

SUMMARY = "sql-migrate (Go): dbconfig.yml, one environment; SQLite, PostgreSQL or MariaDB"
OPTIONS = PRESET_OPTIONS["sql-migrate"]

DEFAULT_CONFIG = "dbconfig.yml"
DEFAULT_ENV = "development"
# sql-migrate's own defaults for an environment without `dir:` or `table:`.
DEFAULT_DIR = "migrations"
DEFAULT_TABLE = "gorp_migrations"
SUPPORTED_DIALECTS = ("sqlite3",)
#: A server dialect in dbconfig.yml -> the --database value that tests it.
SERVER_DIALECTS = {"postgres": "postgresql", "mysql": "mariadb"}
#: --database engine -> sql-migrate's dialect for it.
ENGINE_DIALECTS = {"postgresql": "postgres", "mariadb": "mysql"}
INSTALL_YAML = "pip install 'migration-harness[sql-migrate]'"
# The temporary dbconfig's datasource reads the database path from this variable:
# sql-migrate expands $VAR in `datasource`, so a literal path holding `$` would be mangled;
# an expanded value is used as it is.
DB_VARIABLE = "MIGRATION_HARNESS_SQL_MIGRATE_DB"
# Not a SQLite companion (`repo-...`) nor a temp-file name the litter check looks for.
CONFIG_PREFIX = ".sql-migrate-config-"
# sql-migrate's -limit=0 means "no limit", so a count of 0 is never passed.
NO_LIMIT = 0


# --- reading the project (init) -------------------------------------------------------


def spec(root: Path, options: Mapping[str, str | None]) -> str:
    config = root / (options.get("config_file") or DEFAULT_CONFIG)
    engine = database(options, "sql-migrate", DATABASES)
    env_name = options.get("env_name") or DEFAULT_ENV
    env = _environment(config, env_name)
    if engine == SQLITE:
        _require_sqlite(config, env_name, env)
    table = _string_key(config, env_name, env, "table") or DEFAULT_TABLE
    dir_flag = options.get("migrations_dir")
    dir_value = dir_flag or _string_key(config, env_name, env, "dir") or DEFAULT_DIR
    migrations = root / dir_value
    where = "--migrations-dir" if dir_flag else f"{config}: {env_name}.dir"
    versions = _versions(migrations, where)
    return _render(root, config, env_name, table, migrations, versions, engine)


def _environment(config: Path, env_name: str) -> dict[str, Any]:
    if not config.is_file():
        raise PresetError(
            f"{config}: no sql-migrate config file here (expected a dbconfig.yml with the "
            "environment to test); pass --config-file PATH"
        )
    document = _load_yaml(config)
    if not isinstance(document, dict):
        raise PresetError(
            f"{config}: expected a mapping of environments (development: ...), got "
            f"{type(document).__name__}; pass --config-file PATH for another file"
        )
    env = document.get(env_name)
    if not isinstance(env, dict):
        found = ", ".join(str(k) for k in document) or "none"
        raise PresetError(
            f"{config}: no environment {env_name!r} (a mapping with dialect:, datasource:, "
            f"dir:) in this file (environments found: {found}); pass --env-name NAME"
        )
    return env


def _load_yaml(config: Path) -> object:
    try:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError
    except ImportError:
        raise PresetError(
            f"{config}: reading sql-migrate's YAML config needs ruamel.yaml: {INSTALL_YAML}"
        ) from None
    try:
        return YAML(typ="safe", pure=True).load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        detail = " ".join(str(exc).split())
        raise PresetError(
            f"{config}: not a readable YAML file ({detail}); fix it or pass --config-file PATH"
        ) from None


def _string_key(config: Path, env_name: str, env: Mapping[str, Any], key: str) -> str | None:
    value = env.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PresetError(
            f"{config}: {env_name}.{key} is {value!r}: expected a string; fix it or pass "
            "--config-file PATH"
        )
    return value


def _require_sqlite(config: Path, env_name: str, env: Mapping[str, Any]) -> None:
    dialect = env.get("dialect")
    if dialect in SUPPORTED_DIALECTS:
        return
    problem = "is missing" if dialect is None else f"is {dialect!r}"
    engine = SERVER_DIALECTS.get(str(dialect))
    how = f"pass --database {engine}" if engine else "pass --env-name NAME for another environment"
    raise PresetError(
        f"{config}: {env_name}.dialect {problem}: without --database the sql-migrate preset "
        f"runs on {', '.join(SUPPORTED_DIALECTS)} (one SQLite file per case); {how}"
    )


def _versions(migrations: Path, where: str) -> list[str]:
    if not migrations.is_dir():
        raise PresetError(
            f"{migrations}: no migrations directory (from {where}); pass --migrations-dir DIR"
        )
    names = migration_ids(migrations)
    if len(names) < 2:
        raise PresetError(
            f"{migrations}: {len(names)} migration file(s) (*.sql); the contract needs at "
            "least 2 versions to migrate between; pass --migrations-dir DIR"
        )
    for name in names:
        if not VERSION_NAME.match(name):
            raise PresetError(
                f"{migrations / name}: the migration's name is its version, and a version "
                "name may hold only letters, digits, '.', '_', '+' and '-' (at most 100, "
                "not starting with '.', '+' or '-'); rename the file"
            )
    return names


def migration_ids(migrations: Path) -> list[str]:
    """The migration ids (file names) in ``migrations``, in sql-migrate's order."""
    names = [p.name for p in migrations.iterdir() if p.name.endswith(".sql") and p.is_file()]
    return sorted(names, key=_sql_migrate_order)


# sql-migrate sorts ids with a numeric prefix by that number (then by id), before the
# others (by id). Its Migration.Less has no library form outside Go: mirrored here.
_NUMBER_PREFIX = re.compile(r"^(\d+)")


def _sql_migrate_order(name: str) -> tuple[int, int, bytes]:
    match = _NUMBER_PREFIX.match(name)
    if match:
        return (0, int(match.group(1)), name.encode())
    return (1, 0, name.encode())


def _future_version(versions: Sequence[str]) -> str:
    """A name sql-migrate sorts after every known one, in its own form (`4_future.sql`)."""
    match = _NUMBER_PREFIX.match(versions[-1])
    if match:
        return f"{int(match.group(1)) + 1}_future.sql"
    return f"{versions[-1]}-future"


def _toml(value: str) -> str:
    # JSON's string escapes are all valid in a TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def _literal(value: str) -> str:
    """A value from the user's project inside a spec command: braces are not placeholders."""
    return value.replace("{", "{{").replace("}", "}}")


def _in_project(root: Path, path: Path) -> str:
    """``{here}/...`` for a path inside the project (the spec lives in its root)."""
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        return _literal(str(path.resolve()))
    return "{here}" + ("/" + relative.as_posix() if relative.parts else "")


def _quote_sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _target_lines(root: Path, versions: list[str]) -> list[str]:
    """The spec's [target] up to `content`, the same on every engine."""
    return [
        "[target]",
        f"name = {_toml('sql-migrate-' + root.resolve().name)}",
        "# sql-migrate's own ids: the migration files' names, in its order (numeric prefix).",
        "versions = [" + ", ".join(_toml(v) for v in versions) + "]",
        "# A migration this project does not have, recorded as applied by `stamp`.",
        f"future_version = {_toml(_future_version(versions))}",
        "# Schema and rows change with each migration: compare with a database created there.",
        'content = "per-version"',
    ]


def _render(
    root: Path,
    config: Path,
    env_name: str,
    table: str,
    migrations: Path,
    versions: list[str],
    engine: str = SQLITE,
) -> str:
    adapter = ["{python}", "-m", "migration_harness.presets.sql_migrate", "migrate", "{repo}"]
    options = ["--dir", _in_project(root, migrations), "--env", _literal(env_name)]
    options += ["--table", _literal(table)]
    if engine != SQLITE:
        options += ["--url", "{database_url}"]
        return _render_server(root, config, env_name, table, versions, engine, adapter, options)
    sqlite = ["{python}", "-m", "migration_harness.presets.sqlite"]
    quoted = _literal(_quote_sql_name(table))
    version_query = (
        # The last applied id in sql-migrate's order: numeric prefixes by number, after them
        # the others by id (DESC here, so the others come first).
        f"SELECT id FROM {quoted} ORDER BY id GLOB '[0-9]*', CAST(id AS INTEGER) DESC, "
        "id DESC LIMIT 1"
    )
    stamp = f"INSERT INTO {quoted} (id, applied_at) VALUES ('{{version}}', datetime('now'))"
    omit = _literal(f"{table}.applied_at")

    def command(*parts: str) -> str:
        return "[" + ", ".join(_toml(p) for p in parts) + "]"

    lines = [
        "# The contract for sql-migrate, written by `migration-harness init --preset sql-migrate`",
        f"# from {config.name} (environment {env_name!r}). Needs `sql-migrate` on PATH.",
        "# Each line of tool behaviour below is what sql-migrate 1.0.0 (Debian's 2019 build)",
        "# did on a sample project (3 migrations on one SQLite file), measured without the",
        "# harness. Run: migration-harness check",
        *_target_lines(root, versions),
        "# sql-migrate has no target version, only up/down -limit=N: the adapter counts N from",
        "# the applied ids and runs sql-migrate with a temporary dbconfig (datasource {repo},",
        "# the migrations directory above) beside {repo}, removed after. Reaching the newest",
        "# migration is plain `sql-migrate up`.",
        f"create = {command(*adapter, '{version}', *options)}",
        f"migrate = {command(*adapter, '{to}', *options)}",
        f"revert = {command(*adapter, '{to}', *options)}",
        "# The last applied id in the bookkeeping table (sql-migrate status prints a table).",
        f"version = {command(*sqlite, 'version', '{repo}', version_query)}",
        f"stamp = {command(*sqlite, 'execute', '{repo}', stamp)}",
        "# Columns, indexes and rows of every table; applied_at is the time of the run.",
        f"dump = {command(*sqlite, 'dump', '{repo}', '--omit', omit)}",
        "# No migration lock: SQLite's write lock. Held by another process, sql-migrate waits",
        "# 5 s (its driver's busy timeout), then exits 1 (`Migration failed: database is",
        "# locked handling 2_add_slug.sql`), data untouched. A holder killed hard leaves no",
        "# lock behind.",
        'lock = { path = "{repo}", style = "sqlite" }',
        'on_lock_held = "wait"',
        "lock_wait_s = 5",
        'lock_message = "database is locked"',
        "# An applied id it has no file for: exits 1, `Migration failed: Unable to create",
        "# migration plan because of 4_future.sql: unknown migration in database`, untouched.",
        'on_ahead = "refuse"',
        'ahead_message = "{version}: unknown migration in database"',
        "# Racing `sql-migrate up`s: no lock, each migration is a transaction with its",
        "# bookkeeping row, so the data ends right, but racers exit 1 (`duplicate column name:",
        "# slug`, `UNIQUE constraint failed: gorp_migrations.id`) in about half of the",
        "# rounds: `concurrent` fails.",
        "",
    ]
    return "\n".join(lines)


def _render_server(
    root: Path,
    config: Path,
    env_name: str,
    table: str,
    versions: list[str],
    engine: str,
    adapter: list[str],
    options: list[str],
) -> str:
    server = ["{python}", "-m", "migration_harness.presets.server"]
    if engine == "postgresql":
        quoted = _literal(_quote_sql_name(table))
        numeric = "id ~ '^[0-9]', CAST(substring(id FROM '^[0-9]+') AS numeric) DESC NULLS LAST"
    else:
        quoted = _literal("`" + table.replace("`", "``") + "`")
        numeric = "id REGEXP '^[0-9]', CAST(id AS UNSIGNED) DESC"
    # The last applied id in sql-migrate's order (see the SQLite form's query).
    version_query = f"SELECT id FROM {quoted} ORDER BY {numeric}, id DESC LIMIT 1"
    stamp = f"INSERT INTO {quoted} (id, applied_at) VALUES ('{{version}}', now())"

    def command(*parts: str) -> str:
        return "[" + ", ".join(_toml(p) for p in parts) + "]"

    dialect = ENGINE_DIALECTS[engine]
    lines = [
        "# The contract for sql-migrate on " + engine + ", written by",
        f"# `migration-harness init --preset sql-migrate --database {engine}` from {config.name}",
        f"# (environment {env_name!r}). Needs `sql-migrate` on PATH. check starts a throwaway",
        f"# {engine} server and gives each case a database of its own.",
        "# Run: migration-harness check",
        *_target_lines(root, versions),
        "# sql-migrate has no target version, only up/down -limit=N: the adapter counts N from",
        f"# the applied ids and runs sql-migrate with a temporary dbconfig (dialect {dialect},",
        "# the case's database, the migrations directory above) in the case's scratch",
        "# directory, removed after. Reaching the newest migration is plain `sql-migrate up`.",
        f"create = {command(*adapter, '{version}', *options)}",
        f"migrate = {command(*adapter, '{to}', *options)}",
        f"revert = {command(*adapter, '{to}', *options)}",
        "# The last applied id, read with the server's own client; the content is the",
        "# harness's canonical dump of the database (applied_at reads <time>).",
        f"version = {command(*server, 'version', '{database_url}', version_query)}",
        f"stamp = {command(*server, 'execute', '{database_url}', stamp)}",
        "# No migration lock on a server: nothing to hold (lock-held and stale-lock do not",
        "# apply), and racing `sql-migrate up` runs must each succeed, as several deploys",
        "# at once would need.",
        'on_lock_held = "wait"',
        "lock_wait_s = 10",
        "# On a server the racers cannot be slowed down at the repo's files, so the race",
        "# shows in some rounds only (10 rounds missed it in one of several gallery runs on",
        "# PostgreSQL): 40 rounds find it reliably.",
        "concurrent = { rounds = 40 }",
        "# An applied id it has no file for: sql-migrate refuses to plan, untouched.",
        'on_ahead = "refuse"',
        'ahead_message = "{version}: unknown migration in database"',
        "",
        "[target.database]",
        f"engine = {_toml(engine)}",
        "",
    ]
    return "\n".join(lines)


# --- the adapter (check) ---------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m migration_harness.presets.sql_migrate",
        description="run sql-migrate on one SQLite database up or down to a named migration",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser("migrate", help="migrate DB up or down to TARGET")
    migrate.add_argument("db", type=Path)
    migrate.add_argument("target", help="a migration file's name, e.g. 2_add_slug.sql")
    migrate.add_argument("--dir", type=Path, required=True, help="the migrations directory")
    migrate.add_argument("--env", default=DEFAULT_ENV, help="the environment's name")
    migrate.add_argument("--table", default=DEFAULT_TABLE, help="the bookkeeping table")
    migrate.add_argument(
        "--url", help="a database on a server (postgresql://, mysql://) instead of DB"
    )
    args = parser.parse_args(argv)
    executable = shutil.which("sql-migrate")
    if executable is None:
        print(
            "sql_migrate: no `sql-migrate` on PATH; install it (Debian: apt-get install "
            "sql-migrate; else `go install` the rubenv/sql-migrate module's sql-migrate command)",
            file=sys.stderr,
        )
        return 2
    if not args.dir.is_dir():
        print(f"sql_migrate: {args.dir}: no migrations directory", file=sys.stderr)
        return 2
    ids = migration_ids(args.dir)
    if args.target not in ids:
        print(f"sql_migrate: {args.target}: not a migration in {args.dir}", file=sys.stderr)
        return 2
    try:
        applied = (
            _applied_on_server(args.url, args.table) if args.url else _applied(args.db, args.table)
        )
        dialect, datasource = (
            _datasource(args.url) if args.url else ("sqlite3", str(args.db.absolute()))
        )
    except MigrationHarnessError as exc:
        print(f"sql_migrate: {exc}", file=sys.stderr)
        return 2
    step = plan(ids, args.target, applied)
    if step is None:
        print(f"sql_migrate: {args.db} is at {args.target} already; nothing to run")
        return 0
    direction, limit = step
    with _temporary_config(args.db, args.env, args.dir.resolve(), args.table, dialect) as config:
        command = [executable, direction, f"-config={config}", f"-env={args.env}"]
        if limit != NO_LIMIT:
            command.append(f"-limit={limit}")
        environment = {**os.environ, DB_VARIABLE: datasource}
        return subprocess.run(command, env=environment, check=False).returncode


def plan(ids: Sequence[str], target: str, applied: Sequence[str]) -> tuple[str, int] | None:
    """``("up"|"down", limit)`` that takes a database with ``applied`` to ``target``, or None.

    sql-migrate counts from its last applied migration (it also catches up on any missing
    below it), so the count is the distance from that one. The newest migration is plain
    ``up`` (no limit), which is also what meets an applied id sql-migrate does not know.
    """
    position = ids.index(target) + 1
    if position == len(ids):
        return ("up", NO_LIMIT)
    known = [ids.index(i) + 1 for i in applied if i in ids]
    current = max(known, default=0)
    if position > current:
        return ("up", position - current)
    if position < current:
        return ("down", current - position)
    return None


def _applied(db: Path, table: str) -> list[str]:
    if not db.is_file():
        return []  # connecting would create the file
    with contextlib.closing(sqlite3.connect(db)) as connection:
        exists = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if exists is None:
            return []
        rows = connection.execute(f"SELECT id FROM {_quote_sql_name(table)}").fetchall()
    return [str(r[0]) for r in rows]


def _applied_on_server(url: str, table: str) -> list[str]:
    from migration_harness.presets.server import Address, rows

    schema = "current_schema()" if Address.parse(url).engine == "postgresql" else "database()"
    exists = rows(
        url,
        "SELECT count(*) FROM information_schema.tables "
        f"WHERE table_schema = {schema} AND table_name = '{table.replace(chr(39), chr(39) * 2)}'",
    )
    if exists[0][0] == "0":
        return []
    quoted = _quote_sql_name(table) if "postgres" in url.split(":", 1)[0] else f"`{table}`"
    return [r[0] for r in rows(url, f"SELECT id FROM {quoted}")]


def _datasource(url: str) -> tuple[str, str]:
    """sql-migrate's dialect and datasource for the database at ``url``."""
    from migration_harness.presets.server import Address

    a = Address.parse(url)
    port = a.port or (5432 if a.engine == "postgresql" else 3306)
    if a.engine == "postgresql":
        # lib/pq's key=value form; single quotes keep spaces in a value.
        def kv(key: str, value: str) -> str:
            return f"{key}='" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

        parts = [kv("host", a.host), kv("port", str(port)), kv("user", a.user or "postgres")]
        parts += [kv("dbname", a.name), "sslmode=disable"]
        if a.password:
            parts.append(kv("password", a.password))
        return "postgres", " ".join(parts)
    login = a.user or "root"
    if a.password:
        login += ":" + a.password
    # go-sql-driver/mysql's DSN; parseTime reads applied_at into a time, as sql-migrate needs.
    return "mysql", f"{login}@tcp({a.host}:{port})/{a.name}?parseTime=true"


@contextlib.contextmanager
def _temporary_config(
    db: Path, env: str, migrations: Path, table: str, dialect: str
) -> Iterator[Path]:
    """A dbconfig with one environment pointing at ``db``, beside it; removed after."""
    environment = {
        "dialect": dialect,
        "datasource": "${" + DB_VARIABLE + "}",
        "dir": str(migrations),
        "table": table,
    }
    # JSON is YAML: a JSON object is a valid dbconfig (no YAML writer needed).
    text = json.dumps({env: environment}, ensure_ascii=False, indent=2) + "\n"
    handle, name = tempfile.mkstemp(prefix=CONFIG_PREFIX, suffix=".yml", dir=db.absolute().parent)
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        yield path
    finally:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
