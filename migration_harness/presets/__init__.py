"""Presets: the contract for a migration framework people already use, in one command.

``migration-harness init --preset NAME`` reads the user's project (settings, config files,
the migrations directory) and writes a ``migration-harness.toml`` that works as written.
Where the framework lacks a command the contract needs (print one version, a canonical
dump, stamp a future version, migrate to a named version), the spec calls an adapter
shipped in this package and run as a module, ``python -m migration_harness.presets.NAME``,
so nothing is copied into the user's tree.

Each preset is a module here with:

- ``SUMMARY``: one line for ``init --help``;
- ``OPTIONS``: the :class:`Option` values init asks for with flags (declared here, in
  :data:`OPTIONS`, so that building the command line imports no preset);
- ``spec(root, options) -> str``: the spec's text, or :class:`PresetError`;
- ``main(argv) -> int``: the adapter's commands, if it has any.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

from migration_harness.errors import MigrationHarnessError


@dataclass(frozen=True)
class Option:
    """A value a preset may need from the user: ``init --preset NAME --FLAG VALUE``."""

    flag: str  # e.g. "--app"
    help: str

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


#: Preset name (as the user types it) -> module in this package.
MODULES: dict[str, str] = {
    "django": "django",
    "alembic": "alembic",
    "dbmate": "dbmate",
    "sql-migrate": "sql_migrate",
}

_MIGRATIONS_DIR = Option(
    "--migrations-dir",
    "the directory of the migration files, relative to the project root (dbmate, "
    "sql-migrate; default: what the project's config says)",
)
_CONFIG_FILE = Option(
    "--config-file",
    "the tool's config file, relative to the project root (alembic: default alembic.ini; "
    "sql-migrate: default dbconfig.yml)",
)
_DATABASE = Option(
    "--database",
    "the database the project migrates: sqlite (default), postgresql or mariadb (not "
    "django); on a server, check starts a throwaway one and gives each case a database",
)
#: Preset name -> the flags it reads.
OPTIONS: dict[str, tuple[Option, ...]] = {
    "django": (
        _DATABASE,
        Option("--app", "django: the app whose migrations to test (default: the one with any)"),
        Option("--settings", "django: the settings module (default: the one manage.py sets)"),
    ),
    "alembic": (_CONFIG_FILE, _DATABASE),
    "dbmate": (
        _DATABASE,
        _MIGRATIONS_DIR,
        Option(
            "--dbmate",
            "dbmate: executable name or path (default: dbmate on PATH, else the project's "
            "node_modules/.bin/dbmate)",
        ),
    ),
    "sql-migrate": (
        _CONFIG_FILE,
        Option("--env-name", "sql-migrate: the config's environment (default: development)"),
        _MIGRATIONS_DIR,
        _DATABASE,
    ),
}
#: The ``--database`` values: SQLite (a file per case) and the server engines.
SQLITE = "sqlite"
DATABASES = (SQLITE, "postgresql", "mariadb")


class PresetError(MigrationHarnessError):
    """The project does not have what the preset reads; the message says what was looked
    for, where, and which flag supplies it."""


def database(options: Mapping[str, str | None], preset: str, supported: tuple[str, ...]) -> str:
    """The engine ``--database`` names (default SQLite), if this preset can run on it."""
    engine = options.get("database") or SQLITE
    if engine not in DATABASES:
        raise PresetError(
            f"--database {engine}: unknown database; expected one of {', '.join(DATABASES)}"
        )
    if engine not in supported:
        raise PresetError(
            f"--database {engine}: the {preset} preset runs on {', '.join(supported)}, not {engine}"
        )
    return engine


def require_module(module: str, package: str, why: str) -> None:
    """:class:`PresetError` saying what to pip install when ``module`` is not importable."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise PresetError(
            f"{why} needs the {module} module, not importable by {sys.executable}: "
            f"pip install {package} (in the environment that runs migration-harness)"
        )


class Preset(Protocol):
    SUMMARY: str
    OPTIONS: tuple[Option, ...]

    def spec(self, root: Path, options: Mapping[str, str | None]) -> str: ...


def names() -> list[str]:
    return list(MODULES)


def load(name: str) -> Preset:
    """The preset module named ``name`` (one of :func:`names`)."""
    module: ModuleType = importlib.import_module(f"{__name__}.{MODULES[name]}")
    return cast(Preset, module)


def all_options() -> dict[str, Option]:
    """Every preset's options by flag (init registers the union, each preset reads its own)."""
    found: dict[str, Option] = {}
    for options in OPTIONS.values():
        for option in options:
            found.setdefault(option.flag, option)
    return found
