"""The Django preset: one app's migrations on a SQLite database file.

    migration-harness init --preset django [--app LABEL] [--settings MODULE]

``init`` reads the project: the settings module from ``manage.py``
(``os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)``), the app from the one
directory with numbered migrations (``<app>/migrations/0001_*.py``), and the versions
from those files. The spec migrates with Django's own ``migrate`` command through this
module's adapter, which points the ``default`` database at the file the harness gives
each case (in memory: the project's settings file is not touched):

    python -m migration_harness.presets.django --project DIR --settings MODULE \\
        --database FILE migrate APP TARGET

It runs ``manage.py migrate --no-input APP TARGET`` as Django's command line does, so
what the user sees (messages, exit codes, tracebacks) is what the contract judges.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from migration_harness.presets import OPTIONS as PRESET_OPTIONS
from migration_harness.presets import SQLITE, PresetError, database, require_module

SUMMARY = "Django: one app's migrations (manage.py migrate) on SQLite or PostgreSQL"
#: What --database accepts: Django's MySQL backend needs mysqlclient, a C extension built
#: against MariaDB's client library (no pure-Python driver it accepts).
ENGINES = (SQLITE, "postgresql")
OPTIONS = PRESET_OPTIONS["django"]

MIGRATION_FILE = re.compile(r"(\d{4})_\w+\.py")
SETTINGS_DEFAULT = re.compile(
    r"""setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']\s*\)"""
)


def spec(root: Path, options: Mapping[str, str | None]) -> str:
    engine = database(options, "django", ENGINES)
    if engine == "postgresql":
        require_module(
            "psycopg", "'psycopg[binary]'", "Django on PostgreSQL (--database postgresql)"
        )
    settings = options.get("settings") or _settings_from_manage_py(root)
    app, migrations = _app(root, options.get("app"))
    versions = _versions(migrations)
    future = f"{int(versions[-1][:4]) + 1:04d}_future"
    return (_SPEC if engine == SQLITE else _SERVER_SPEC).format(
        app=app,
        settings=settings,
        versions=", ".join(f'"{v}"' for v in versions),
        future=future,
        migrations=migrations.relative_to(root).as_posix(),
    )


def _settings_from_manage_py(root: Path) -> str:
    manage = root / "manage.py"
    try:
        text = manage.read_text(encoding="utf-8")
    except OSError:
        raise PresetError(
            f"no manage.py in {root} to read the settings module from; run init in the "
            "project's root or pass --settings MODULE"
        ) from None
    found = SETTINGS_DEFAULT.search(text)
    if found is None:
        raise PresetError(
            f"{manage} does not set DJANGO_SETTINGS_MODULE with os.environ.setdefault(...); "
            "pass --settings MODULE"
        )
    return found[1]


def _app(root: Path, label: str | None) -> tuple[str, Path]:
    """The app label and its migrations directory."""
    if label is not None:
        migrations = root / label / "migrations"
        if not any(MIGRATION_FILE.fullmatch(p.name) for p in _files(migrations)):
            raise PresetError(
                f"--app {label}: no numbered migrations (0001_*.py) in {migrations}; "
                "expected the app's directory beside manage.py"
            )
        return label, migrations
    apps = sorted(
        p.parent.parent.name
        for p in root.glob("*/migrations/0001_*.py")
        if MIGRATION_FILE.fullmatch(p.name)
    )
    if len(apps) != 1:
        found = f"found {len(apps)}: {', '.join(apps)}" if apps else "found none"
        raise PresetError(
            f"expected one app with migrations (<app>/migrations/0001_*.py) in {root}, "
            f"{found}; pass --app LABEL"
        )
    return apps[0], root / apps[0] / "migrations"


def _versions(migrations: Path) -> list[str]:
    names = sorted(p.stem for p in _files(migrations) if MIGRATION_FILE.fullmatch(p.name))
    numbers = [n[:4] for n in names]
    twins = sorted({n for n in names if numbers.count(n[:4]) > 1})
    if twins:
        raise PresetError(
            f"{migrations}: more than one migration per number ({', '.join(twins)}): the "
            "history branches; the contract needs one line of versions (merge them first)"
        )
    return names


def _files(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except OSError:
        return []


# --- the adapter -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sys.path.insert(0, str(Path(args.project).resolve()))
    os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    try:
        # Imported by name: Django is the user's dependency, not the harness's.
        settings = importlib.import_module("django.conf").settings
        management = importlib.import_module("django.core.management")
    except ImportError:
        print(
            f"django preset: Django is not installed in {sys.executable}; install it in "
            "the environment that runs migration-harness",
            file=sys.stderr,
        )
        return 1
    # Settings are read lazily: replacing the default database before Django sets up
    # its connections points every command at the harness's file.
    default = dict(settings.DATABASES.get("default", {}))
    default.update(_database_settings(args.database))
    settings.DATABASES["default"] = default
    management.execute_from_command_line(
        ["manage.py", "migrate", "--no-input", args.app, args.target]
    )
    return 0


def _database_settings(database: str) -> dict[str, str]:
    """The default database's settings for a SQLite file, or a PostgreSQL database's URL."""
    if "://" not in database:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": database}
    from urllib.parse import unquote, urlsplit

    url = urlsplit(database)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(url.path.lstrip("/")),
        "HOST": url.hostname or "",
        "PORT": str(url.port or ""),
        "USER": unquote(url.username or ""),
        "PASSWORD": unquote(url.password or ""),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m migration_harness.presets.django",
        description="run manage.py migrate with the default database at FILE",
    )
    parser.add_argument("--project", required=True, help="the directory of manage.py")
    parser.add_argument("--settings", required=True, help="the settings module")
    parser.add_argument(
        "--database",
        required=True,
        metavar="FILE|URL",
        help="the SQLite file, or a PostgreSQL database's postgresql:// URL",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser("migrate", help="migrate APP to TARGET (forwards or back)")
    migrate.add_argument("app")
    migrate.add_argument("target")
    return parser


_TARGET = """\
[target]
name = "django-{app}"
# The app's migrations ({migrations}), oldest first: Django's own names.
versions = [{versions}]
# What a newer release of the project would have recorded.
future_version = "{future}"
# Each migration may change the schema or the data: compare with a database made at the
# same version.
content = "per-version"
create = [
  "{{python}}", "-m", "migration_harness.presets.django", "--project", "{{here}}",
  "--settings", "{settings}", "--database", "{db}", "migrate", "{app}", "{{version}}",
]
migrate = [
  "{{python}}", "-m", "migration_harness.presets.django", "--project", "{{here}}",
  "--settings", "{settings}", "--database", "{db}", "migrate", "{app}", "{{to}}",
]
revert = [
  "{{python}}", "-m", "migration_harness.presets.django", "--project", "{{here}}",
  "--settings", "{settings}", "--database", "{db}", "migrate", "{app}", "{{to}}",
]
"""

_SPEC = (
    """\
# The migration safety contract for the Django app `{app}` (written by
# `migration-harness init --preset django`). Run: migration-harness check
#
# Each case gets its own SQLite file ({{repo}}). The adapter
# `python -m migration_harness.presets.django` runs `manage.py migrate` with the default
# database pointed at that file (in memory; {settings} is not changed). A project on
# PostgreSQL is tested on a server with `init --preset django --database postgresql`.
"""
    + _TARGET.replace("{db}", "{{repo}}")
    + """\
# `showmigrations` prints a checklist: read the last applied migration from Django's
# bookkeeping table instead.
version = [
  "{{python}}", "-m", "migration_harness.presets.sqlite", "version", "{{repo}}",
  "SELECT name FROM django_migrations WHERE app = '{app}' ORDER BY name DESC LIMIT 1",
]
stamp = [
  "{{python}}", "-m", "migration_harness.presets.sqlite", "execute", "{{repo}}",
  "INSERT INTO django_migrations (app, name, applied) VALUES ('{app}', '{{version}}', \
datetime('now'))",
]
# Every table's columns and sorted rows; of the bookkeeping, the applied migrations
# without their ids and times (a migration recorded twice shows as a repeated row).
dump = [
  "{{python}}", "-m", "migration_harness.presets.sqlite", "dump", "{{repo}}",
  "--omit", "django_migrations.id", "--omit", "django_migrations.applied",
]
# Django takes no migration lock. On SQLite it waits for the database's write lock for
# 5 s (Python's sqlite3 default) and then stops with `database is locked` (measured:
# exit 1, with a traceback). A lock left by a killed holder is gone with it (SQLite's
# locks are the OS's), so the stale-lock cases pass. Migrators racing on one database
# are not kept apart (measured on the gallery's sample: 15 of 32 rounds of 4 racers
# broken, a migration recorded twice or a racer stopping with a traceback): the
# concurrent contract is expected to fail until the project serialises its migrations.
lock = {{ path = "{{repo}}", style = "sqlite" }}
on_lock_held = "wait"
lock_wait_s = 5
lock_message = "database is locked"
# Django ignores an applied migration it does not know (measured: `No migrations to
# apply.`, exit 0): a database from a newer release is used as it is.
on_ahead = "compat"
"""
)

_SERVER_SPEC = (
    """\
# The migration safety contract for the Django app `{app}` on PostgreSQL (written by
# `migration-harness init --preset django --database postgresql`).
# Run: migration-harness check
#
# check starts a throwaway PostgreSQL server and gives each case a database of its own.
# The adapter `python -m migration_harness.presets.django` runs `manage.py migrate` with
# the default database pointed at it (django.db.backends.postgresql with psycopg, in
# memory; {settings} is not changed).
"""
    + _TARGET.replace("{db}", "{{database_url}}")
    + """\
# The last applied migration, from Django's bookkeeping table (the server's own client).
version = [
  "{{python}}", "-m", "migration_harness.presets.server", "version", "{{database_url}}",
  "SELECT name FROM django_migrations WHERE app = '{app}' ORDER BY name DESC LIMIT 1",
]
stamp = [
  "{{python}}", "-m", "migration_harness.presets.server", "execute", "{{database_url}}",
  "INSERT INTO django_migrations (app, name, applied) VALUES ('{app}', '{{version}}', now())",
]
# The canonical dump of the database without django_migrations.id: a sequence gives it,
# and an insert rolled back (a migrator killed or beaten in a race) still used a number.
dump = [
  "{{python}}", "-m", "migration_harness.presets.server", "dump", "{{database_url}}",
  "--omit", "django_migrations.id",
]
# Django takes no migration lock: nothing to hold (lock-held and stale-lock do not
# apply), and racing `migrate` runs must each succeed, as several deploys at once would.
on_lock_held = "wait"
lock_wait_s = 10
# Django ignores an applied migration it does not know: a database from a newer release
# is used as it is.
on_ahead = "compat"

[target.database]
engine = "postgresql"
"""
)

if __name__ == "__main__":
    sys.exit(main())
