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

from migration_harness.presets import OPTIONS as PRESET_OPTIONS
from migration_harness.presets import PresetError
from migration_harness.target import VERSION_NAME

SUMMARY = "sql-migrate (Go): dbconfig.yml, one environment, SQLite databases"
OPTIONS = PRESET_OPTIONS["sql-migrate"]

DEFAULT_CONFIG = "dbconfig.yml"
DEFAULT_ENV = "development"
# sql-migrate's own defaults for an environment without `dir:` or `table:`.
DEFAULT_DIR = "migrations"
DEFAULT_TABLE = "gorp_migrations"
SUPPORTED_DIALECTS = ("sqlite3",)
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
    env_name = options.get("env_name") or DEFAULT_ENV
    env = _environment(config, env_name)
    _require_sqlite(config, env_name, env)
    table = _string_key(config, env_name, env, "table") or DEFAULT_TABLE
    dir_flag = options.get("migrations_dir")
    dir_value = dir_flag or _string_key(config, env_name, env, "dir") or DEFAULT_DIR
    migrations = root / dir_value
    where = "--migrations-dir" if dir_flag else f"{config}: {env_name}.dir"
    versions = _versions(migrations, where)
    return _render(root, config, env_name, table, migrations, versions)


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
    raise PresetError(
        f"{config}: {env_name}.dialect {problem}: the sql-migrate preset supports "
        f"{', '.join(SUPPORTED_DIALECTS)} (one SQLite file per case); database servers "
        "(postgres, mysql) are not supported yet; pass --env-name NAME for a SQLite "
        "environment"
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


def _render(
    root: Path, config: Path, env_name: str, table: str, migrations: Path, versions: list[str]
) -> str:
    adapter = ["{python}", "-m", "migration_harness.presets.sql_migrate", "migrate", "{repo}"]
    options = ["--dir", _in_project(root, migrations), "--env", _literal(env_name)]
    options += ["--table", _literal(table)]
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
        "[target]",
        f"name = {_toml('sql-migrate-' + root.resolve().name)}",
        "# sql-migrate's own ids: the migration files' names, in its order (numeric prefix).",
        "versions = [" + ", ".join(_toml(v) for v in versions) + "]",
        "# A migration this project does not have, recorded as applied by `stamp`.",
        f"future_version = {_toml(_future_version(versions))}",
        "# Schema and rows change with each migration: compare with a database created there.",
        'content = "per-version"',
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
    step = plan(ids, args.target, _applied(args.db, args.table))
    if step is None:
        print(f"sql_migrate: {args.db} is at {args.target} already; nothing to run")
        return 0
    direction, limit = step
    with _temporary_config(args.db, args.env, args.dir.resolve(), args.table) as config:
        command = [executable, direction, f"-config={config}", f"-env={args.env}"]
        if limit != NO_LIMIT:
            command.append(f"-limit={limit}")
        environment = {**os.environ, DB_VARIABLE: str(args.db.absolute())}
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


@contextlib.contextmanager
def _temporary_config(db: Path, env: str, migrations: Path, table: str) -> Iterator[Path]:
    """A dbconfig with one environment pointing at ``db``, beside it; removed after."""
    environment = {
        "dialect": "sqlite3",
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
