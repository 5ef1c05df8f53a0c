"""The alembic preset: the contract for an alembic project on a SQLite database.

``init --preset alembic`` reads ``alembic.ini`` (``--config-file`` for another) and the
revisions in its ``script_location``, oldest first. The spec runs alembic through the
adapter here, which points alembic at the case's database without changing the project:

    python -m migration_harness.presets.alembic upgrade|downgrade DB REVISION --config INI

loads the project's ``Config`` as ``alembic -c INI`` does (from the project's root, where
alembic is run), sets ``sqlalchemy.url`` to ``sqlite:///DB`` in memory and runs alembic's
own ``upgrade``/``downgrade`` command, with alembic's messages and exit status. The
project's ``env.py`` must read the URL from the config, as alembic's templates do
(``config.get_main_option("sqlalchemy.url")`` or ``engine_from_config``): a connection
to any other database is refused before it is made, so the harness never migrates a
database outside the case's scratch directory.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migration_harness.errors import MigrationHarnessError
from migration_harness.presets import DATABASES, SQLITE, PresetError, database, require_module
from migration_harness.presets import OPTIONS as PRESET_OPTIONS

if TYPE_CHECKING:
    from alembic.config import Config

SUMMARY = "alembic + SQLAlchemy on SQLite, PostgreSQL or MariaDB: revisions from alembic.ini"

OPTIONS = PRESET_OPTIONS["alembic"]

DEFAULT_CONFIG = "alembic.ini"
#: Names for the revision ``ahead`` stamps: the first one the project does not use.
FUTURE_CANDIDATES = ("ffffffffffff", "ffffffffffff_future", "zzzz_future")
#: Engine -> the pure-Python driver (module, pip package) the spec's URL names.
DRIVERS = {"postgresql": ("pg8000", "pg8000"), "mariadb": ("pymysql", "PyMySQL")}
#: Engine -> the SQLAlchemy URL of the case's database, from the spec's placeholders.
SERVER_URLS = {
    "postgresql": "postgresql+pg8000://{db_user}@{db_host}:{db_port}/{db_name}",
    "mariadb": "mysql+pymysql://{db_user}@{db_host}:{db_port}/{db_name}",
}
#: What the spec's ``versions`` accepts in a name.
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")
#: alembic.util.messaging.err exits -1: status 255.
ALEMBIC_FAILED = 255
#: The adapter's own refusals (bad arguments, env.py ignoring the URL).
ADAPTER_FAILED = 2


def spec(root: Path, options: Mapping[str, str | None]) -> str:
    """The spec for the alembic project at ``root``."""
    engine = database(options, "alembic", DATABASES)
    rel = options.get("config_file") or DEFAULT_CONFIG
    ini = root / rel
    if not ini.is_file():
        raise PresetError(
            f"no alembic config at {ini}: expected the file `alembic -c` reads "
            "(pass its path, relative to the project root, with --config-file)"
        )
    if engine in DRIVERS:
        module, package = DRIVERS[engine]
        require_module(module, package, f"alembic on {engine} (--database {engine})")
    revisions = read_revisions(ini, root)
    future = next(c for c in FUTURE_CANDIDATES if c not in revisions)
    ini_rel = Path(os.path.relpath(ini, root)).as_posix()
    if engine == SQLITE:
        return _render(root.name, ini_rel, revisions, future)
    return _render_server(root.name, ini_rel, revisions, future, engine)


def read_revisions(ini: Path, root: Path) -> list[str]:
    """The project's revision ids, oldest first; a history that is not one line is refused."""
    try:
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError
    except ImportError:
        raise PresetError(
            f"alembic is not importable by {sys.executable}: the preset reads the revisions "
            "and runs alembic in the Python that runs migration-harness; install "
            "migration-harness where your project's alembic is installed"
        ) from None
    config = _load_config(ini, root)
    location = config.get_main_option("script_location")
    if not location:
        raise PresetError(
            f"{ini}: no `script_location` in its [alembic] section: expected the directory "
            "of env.py and versions/ (or pass another config with --config-file)"
        )
    try:
        script = ScriptDirectory.from_config(config)
        revisions = list(script.walk_revisions())
    except CommandError as exc:
        raise PresetError(f"{ini}: script_location = {location}: {exc}") from None
    except Exception as exc:  # a revision file is the user's own Python: any error
        raise PresetError(
            f"{ini}: script_location = {location}: reading the revisions failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    return _one_line(ini, location, revisions, script.get_heads())


def _one_line(ini: Path, location: str, revisions: list[Any], heads: Sequence[str]) -> list[str]:
    """Revision ids oldest first, if the history is one line (the contract's versions)."""
    where = f"{ini}: script_location = {location}"
    if len(heads) > 1:
        raise PresetError(
            f"{where}: the history has {len(heads)} heads ({', '.join(sorted(heads))}); the "
            "contract needs one line of revisions, each revising the one before"
        )
    forks = [r.revision for r in revisions if r.is_merge_point or r.is_branch_point]
    if forks:
        raise PresetError(
            f"{where}: the history branches or merges at {', '.join(forks)}; the contract "
            "needs one line of revisions, each revising the one before"
        )
    ids = [str(r.revision) for r in reversed(revisions)]
    if len(ids) < 2:
        raise PresetError(
            f"{where}: found {len(ids)} revision(s); the contract needs at least 2 (it "
            "migrates from one to the next)"
        )
    odd = [i for i in ids if not set(i) <= NAME_CHARS]
    if odd:
        raise PresetError(
            f"{where}: revision id(s) {', '.join(map(repr, odd))}: expected letters, digits, "
            "`.`, `_`, `+` and `-` only"
        )
    return ids


def _load_config(ini: Path, root: Path) -> Config:
    """The project's Config as `alembic -c INI` run from ``root`` sees it."""
    from alembic.config import Config

    config = Config(str(ini))
    location = config.get_main_option("script_location")
    # alembic reads a plain relative script_location from the working directory (the
    # project root, where alembic runs); init may run elsewhere.
    if location and not os.path.isabs(location) and ":" not in location:
        config.set_main_option("script_location", str(root / location).replace("%", "%%"))
    return config


def _target(name: str, ini: str, revisions: list[str], future: str, db: str) -> str:
    """The spec's [target] up to the commands that migrate; ``db``: the database argument."""
    q = json.dumps  # a JSON string is a TOML basic string
    adapter = f'"{{python}}", "-m", "{__name__}"'
    config = f'"--config", {q("{here}/" + ini)}'
    return f"""\
[target]
name = {q(name)}
# alembic's revision ids, oldest first (`alembic history`, read backwards).
versions = [{", ".join(map(q, revisions))}]
# A revision no script here knows, as a newer checkout of the project would record.
future_version = {q(future)}
# Every revision changes the schema or the data: compare with a database created there.
content = "per-version"
create = [{adapter}, "upgrade", {db}, "{{version}}", {config}]
migrate = [{adapter}, "upgrade", {db}, "{{to}}", {config}]
revert = [{adapter}, "downgrade", {db}, "{{to}}", {config}]"""


def _render(name: str, ini: str, revisions: list[str], future: str) -> str:
    sqlite = '"{python}", "-m", "migration_harness.presets.sqlite"'
    head = _target(name, ini, revisions, future, '"{repo}"')
    return f"""\
# The contract for the alembic project in this directory, written by
# `migration-harness init --preset alembic` from {ini} and its script_location.
# Run: migration-harness check
#
# Each case's database is a fresh SQLite file, {{repo}}. The alembic adapter loads {ini}
# as `alembic -c {ini}` does (from this directory), sets sqlalchemy.url to
# sqlite:///{{repo}} in memory and runs alembic's own upgrade or downgrade: nothing here
# changes. So migrations/env.py must take the URL from the config, as alembic's templates
# do (`config.get_main_option("sqlalchemy.url")` or `engine_from_config(...)`); an env.py
# that connects elsewhere is stopped before it connects, and the command fails saying so.
{head}
# alembic keeps the head revision in the one row of alembic_version.
version = [{sqlite}, "version", "{{repo}}", "SELECT version_num FROM alembic_version"]
stamp = [{sqlite}, "execute", "{{repo}}", "UPDATE alembic_version SET version_num = '{{version}}'"]
# Every table's columns, indexes and rows (alembic_version included: it holds no time).
dump = [{sqlite}, "dump", "{{repo}}"]
# alembic takes no lock of its own on SQLite (none in the database, no file beside it):
# the lock is SQLite's write lock, which alembic waits for for 5 s (Python's sqlite3
# default timeout) and then gives up on with a traceback ending
# `sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked`.
# The bounds below count the whole command, and before it waits Python imports alembic
# and SQLAlchemy: 1 s on a quiet machine, over 5 s on a busy 2-core one. So the command
# gives up within 10 s (5 s for start-up, 5 s of waiting) ...
lock = {{ path = "{{repo}}", style = "sqlite" }}
on_lock_held = "wait"
lock_wait_s = 10
lock_message = "database is locked"
# ... and a holder killed hard leaves nothing behind: the next run goes ahead at once,
# after the same start-up (stale_after_s is that start-up, not a wait for the lock).
stale_after_s = 5
# A database at a revision no script knows is refused, untouched, exit 255:
# `FAILED: Can't locate revision identified by '...'`.
on_ahead = "refuse"
ahead_message = "Can't locate revision identified by '{{version}}'"
# Racing `alembic upgrade` runs (several deploys at once) are not guarded: losers exit 1
# with a traceback (`table notes already exists`, `duplicate column name`) or 255
# (`Online migration expected to match one row when updating ...`).
# A kill mid-run: pysqlite commits DDL on its own ("Will assume non-transactional DDL"),
# so a kill right after a CREATE/ALTER leaves the new schema without its alembic_version
# row, and every re-run fails on it.
"""


def _render_server(name: str, ini: str, revisions: list[str], future: str, engine: str) -> str:
    server = '"{python}", "-m", "migration_harness.presets.server"'
    head = _target(name, ini, revisions, future, json.dumps(SERVER_URLS[engine]))
    package = DRIVERS[engine][1]
    return f"""\
# The contract for the alembic project in this directory on {engine}, written by
# `migration-harness init --preset alembic --database {engine}` from {ini} and its
# script_location. Run: migration-harness check
#
# check starts a throwaway {engine} server and gives each case a database of its own.
# The alembic adapter loads {ini} as `alembic -c {ini}` does (from this directory), sets
# sqlalchemy.url to that database in memory (driver: {package}, `pip install {package}`)
# and runs alembic's own upgrade or downgrade: nothing here changes. So migrations/env.py
# must take the URL from the config, as alembic's templates do; an env.py that connects
# elsewhere is stopped before it connects, and the command fails saying so.
{head}
# alembic keeps the head revision in the one row of alembic_version (read with the
# server's own client; the harness's canonical dump of the database is the content).
version = [{server}, "version", "{{database_url}}", "SELECT version_num FROM alembic_version"]
stamp = [
  {server}, "execute", "{{database_url}}",
  "UPDATE alembic_version SET version_num = '{{version}}'",
]
# alembic takes no migration lock on a server: no lock to hold (lock-held and stale-lock
# do not apply), and racing `alembic upgrade` runs are not kept apart (every racer must
# succeed, as several deploys at once would need).
on_lock_held = "wait"
lock_wait_s = 10
# On a server the racers cannot be slowed down at the repo's files, and alembic's race
# shows in about 1 round of 8 (measured on PostgreSQL and MariaDB): 40 rounds find it
# with odds above 99 %, where the default 10 miss it about one run in four.
concurrent = {{ rounds = 40 }}
# A database at a revision no script knows is refused, untouched, exit 255:
# `FAILED: Can't locate revision identified by '...'`.
on_ahead = "refuse"
ahead_message = "Can't locate revision identified by '{{version}}'"

[target.database]
engine = "{engine}"
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run alembic's upgrade or downgrade on one SQLite file, with the project's config."""
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"python -m {__name__}",
        description="alembic upgrade/downgrade on the database DB, with the project's "
        "config (sqlalchemy.url set to DB in memory)",
    )
    parser.add_argument("command", choices=("upgrade", "downgrade"))
    parser.add_argument(
        "db", help="the SQLite database file, or a server database's SQLAlchemy URL (with ://)"
    )
    parser.add_argument("revision", help="the revision to reach (an id, head or base)")
    parser.add_argument("--config", required=True, metavar="INI", help="the alembic.ini to load")
    args = parser.parse_args(argv)
    ini = Path(os.path.abspath(args.config))
    if not ini.is_file():
        print(f"alembic adapter: no alembic config at {ini}", file=sys.stderr)
        return ADAPTER_FAILED
    if "://" in args.db:
        return _run_alembic(args.command, args.revision, args.db, ini)
    return _run_alembic(args.command, args.revision, Path(os.path.abspath(args.db)), ini)


class ForeignDatabase(MigrationHarnessError):
    """env.py opened a database other than the one the harness gave."""


def _run_alembic(command: str, revision: str, db: Path | str, ini: Path) -> int:
    """alembic ``command`` on ``db``: a SQLite file, or a server database's URL."""
    from alembic.config import CommandLine, Config
    from sqlalchemy import event
    from sqlalchemy.engine import URL, Engine, make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    if isinstance(db, Path):
        url = URL.create("sqlite", database=str(db))
    else:
        try:
            url = make_url(db)
            url.get_dialect()  # the driver is importable
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            print(f"alembic adapter: {db}: {_driver_hint(exc)}", file=sys.stderr)
            return ADAPTER_FAILED
    only_db = _only_sqlite(db) if isinstance(db, Path) else _only_server(url)
    # Relative paths in the config (script_location, prepend_sys_path) are the project
    # root's, where alembic is run.
    os.chdir(ini.parent)
    cli = CommandLine(prog="alembic")
    options = cli.parser.parse_args(["-c", str(ini), command, revision])
    config = Config(file_=str(ini), ini_section=options.name, cmd_opts=options)
    # The URL quotes what a URL would read as its own (`%41`, `?`, `#`); then the config
    # interpolates %(name)s, so a literal % is written %%.
    text = url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", text.replace("%", "%%"))
    event.listen(Engine, "do_connect", only_db)
    try:
        cli.run_cmd(config, options)  # alembic's own messages; exit 255 on its refusals
    except ForeignDatabase as exc:
        print(_foreign_message(config, text, str(exc)), file=sys.stderr)
        return ADAPTER_FAILED
    if isinstance(db, Path) and not db.exists():
        print(_foreign_message(config, text, "no database at all"), file=sys.stderr)
        return ADAPTER_FAILED
    return 0


Connect = Callable[[Any, Any, Sequence[Any], Mapping[str, Any]], None]


def _only_sqlite(db: Path) -> Connect:
    same = os.path.normcase(str(db))

    def only_db(dialect: Any, _record: Any, cargs: Sequence[Any], _cparams: Any) -> None:
        # Before the DBAPI connects: a refused connection creates and touches nothing.
        target = str(cargs[0]) if cargs else ""
        if dialect.name != "sqlite" or os.path.normcase(os.path.abspath(target)) != same:
            raise ForeignDatabase(f"{dialect.name} database {target or '(none)'}")

    return only_db


def _only_server(url: Any) -> Connect:
    wanted = (url.get_backend_name(), url.host, url.port, url.database)

    def only_db(dialect: Any, _record: Any, _cargs: Sequence[Any], cparams: Any) -> None:
        # pg8000 names the database `database`, the MySQL drivers `db` or `database`.
        name = cparams.get("database", cparams.get("db"))
        port = cparams.get("port")
        found = (dialect.name, cparams.get("host"), int(port) if port else None, name)
        if found != wanted:
            raise ForeignDatabase(f"{dialect.name} database {name} on {found[1]}:{found[2]}")

    return only_db


def _driver_hint(exc: BaseException) -> str:
    for module, package in DRIVERS.values():
        if module in str(exc):
            return f"{exc}; pip install {package}"
    return str(exc)


def _foreign_message(config: Config, url: str, opened: str) -> str:
    from alembic.script import ScriptDirectory

    env_py = Path(ScriptDirectory.from_config(config).dir) / "env.py"
    return (
        f"alembic adapter: {env_py} opened {opened}, not the database this run gave "
        f"alembic (sqlalchemy.url = {url}); nothing was migrated. env.py must "
        'take the URL from the config: config.get_main_option("sqlalchemy.url") or '
        "engine_from_config(config.get_section(config.config_ini_section), ...)"
    )


if __name__ == "__main__":
    sys.exit(main())
