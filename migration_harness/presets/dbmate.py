"""The dbmate preset (SQLite), and the adapter that gives dbmate a target version.

``init --preset dbmate`` reads the project the way dbmate does: the migrations directory
(``./db/migrations``, or ``DBMATE_MIGRATIONS_DIR`` in the project's ``.env``), the versions
(the digits that start each ``*.sql`` file's name, in dbmate's order: by file name), the
bookkeeping table (``DBMATE_MIGRATIONS_TABLE``, default ``schema_migrations``) and the form of
``DATABASE_URL`` (only ``sqlite:`` for now). It finds dbmate on PATH, else in the project's
``node_modules``, or takes ``--dbmate``.

dbmate has no target version (``up`` applies every pending file) and ``rollback`` undoes
one migration per run, so the spec runs this module, which does both:

    python -m migration_harness.presets.dbmate up DB --to VERSION --migrations-dir DIR
    python -m migration_harness.presets.dbmate rollback DB --to VERSION --migrations-dir DIR

``up`` copies the migration files up to ``VERSION`` into a temporary directory beside
``DB`` (removed after) and runs ``dbmate up`` on it; ``rollback`` runs ``dbmate rollback``
once per applied migration above ``VERSION``. Both point dbmate at ``DB`` with ``--url``
and pass ``--no-dump-schema`` (dbmate would otherwise write ``db/schema.sql``, with the
``sqlite3`` program), so nothing in the project changes. dbmate's own output and exit
status pass through unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn
from urllib.parse import quote, unquote

from migration_harness.errors import MigrationHarnessError
from migration_harness.presets import DATABASES, SQLITE, PresetError, database
from migration_harness.presets import OPTIONS as PRESET_OPTIONS

SUMMARY = "dbmate on SQLite, PostgreSQL or MariaDB (migrations dir and table read from .env)"

OPTIONS = PRESET_OPTIONS["dbmate"]

DEFAULT_MIGRATIONS_DIR = "db/migrations"
DEFAULT_TABLE = "schema_migrations"
ENV_FILE = ".env"
#: dbmate's own pattern for a migration file: the leading digits are its version.
MIGRATION_FILE = re.compile(r"^(\d+).*\.sql$")
#: A table name the spec can put in SQL without quoting surprises.
TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
SQLITE_SCHEMES = ("sqlite", "sqlite3")
#: DATABASE_URL schemes of the servers --database runs on.
SERVER_SCHEMES = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mariadb"}
#: How long a stopped adapter gives dbmate to exit after passing the signal on.
CHILD_STOP_GRACE_S = 5.0
#: prctl(2) option from <linux/prctl.h>: the signal a child gets when its parent dies.
PR_SET_PDEATHSIG = 1


# --- the spec -------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    """What the spec needs from the user's project."""

    migrations_dirs: tuple[str, ...]  # as the spec writes them ({here}/... when inside)
    versions: tuple[str, ...]
    table: str
    dbmate: str  # as the spec writes it
    engine: str = SQLITE


def spec(root: Path, options: Mapping[str, str | None]) -> str:
    return _render(root, read_project(root, options))


def read_project(root: Path, options: Mapping[str, str | None]) -> Project:
    engine = database(options, "dbmate", DATABASES)
    env = _read_env(root)
    if engine == SQLITE:
        _check_database_url(root, env)
    dirs = _migrations_dirs(root, env, options.get("migrations_dir"))
    files = migration_files(dirs)
    if len(files) < 2:
        found = ", ".join(f.name for f in files) or "none"
        raise PresetError(
            f"{_listing(dirs)}: expected at least 2 migration files named like "
            f"20250101000001_create_notes.sql (found: {found}); the contract checks migrations "
            "between versions. Pass the directory with --migrations-dir DIR"
        )
    table = env.get("DBMATE_MIGRATIONS_TABLE") or DEFAULT_TABLE
    if not TABLE_NAME.fullmatch(table):
        raise PresetError(
            f"{root / ENV_FILE}: DBMATE_MIGRATIONS_TABLE={table!r}: expected a plain table "
            "name (letters, digits, '_')"
        )
    versions = tuple(_version(f) for f in files)
    _check_versions(dirs, versions)
    return Project(
        migrations_dirs=tuple(_spec_path(root, d) for d in dirs),
        versions=versions,
        table=table,
        dbmate=_find_dbmate(root, options.get("dbmate")),
        engine=engine,
    )


def _read_env(root: Path) -> dict[str, str]:
    """The project's ``.env``, as dbmate loads it (a missing file is no error)."""
    path = root / ENV_FILE
    if not path.is_file():
        return {}
    try:
        # interpolate=False: dbmate's loader (godotenv) expands ${VAR} from the process
        # environment, which at init time is not the one the project runs in.
        from dotenv import dotenv_values  # only for init, and only with a .env

        values = dotenv_values(path, interpolate=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: cannot read it ({exc})") from None
    return {k: v for k, v in values.items() if v is not None}


def _check_database_url(root: Path, env: Mapping[str, str]) -> None:
    url = env.get("DATABASE_URL")
    if url is None:
        return
    scheme = url.partition(":")[0].lower()
    if scheme not in SQLITE_SCHEMES:
        engine = SERVER_SCHEMES.get(scheme)
        flag = (
            f"pass --database {engine}" if engine else "the preset runs on " + ", ".join(DATABASES)
        )
        raise PresetError(
            f"{root / ENV_FILE}: DATABASE_URL uses {scheme + ':'!r}, not SQLite (sqlite:); {flag}"
        )


def _migrations_dirs(root: Path, env: Mapping[str, str], given: str | None) -> list[Path]:
    if given is not None:
        where = f"--migrations-dir {given}"
        names = [given]
    elif "DBMATE_MIGRATIONS_DIR" in env:
        where = f"{root / ENV_FILE}: DBMATE_MIGRATIONS_DIR"
        # A list flag read from the environment: dbmate's CLI splits it at commas.
        names = [n.strip() for n in env["DBMATE_MIGRATIONS_DIR"].split(",") if n.strip()]
    else:
        where = f"dbmate's default {DEFAULT_MIGRATIONS_DIR}"
        names = [DEFAULT_MIGRATIONS_DIR]
    dirs = [root / name for name in names]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing or not dirs:
        raise PresetError(
            f"{', '.join(missing) or where}: no migrations directory there ({where}); "
            "pass it with --migrations-dir DIR"
        )
    return dirs


def migration_files(dirs: Sequence[Path]) -> list[Path]:
    """dbmate's migration files in ``dirs``, in the order dbmate applies them (by name)."""
    found = [
        entry
        for d in dirs
        for entry in d.iterdir()
        if MIGRATION_FILE.match(entry.name) and not entry.is_dir()
    ]
    return sorted(found, key=lambda f: f.name)


def _version(file: Path) -> str:
    match = MIGRATION_FILE.match(file.name)
    assert match is not None  # migration_files kept only matching names
    return match.group(1)


def _check_versions(dirs: Sequence[Path], versions: Sequence[str]) -> None:
    duplicates = sorted({v for v in versions if versions.count(v) > 1})
    if duplicates:
        raise PresetError(
            f"{_listing(dirs)}: more than one migration file with version "
            f"{', '.join(duplicates)}; dbmate records each version once"
        )
    # dbmate applies files by name; the version query takes the greatest version. The two
    # orders agree only when every version has the same number of digits (timestamps).
    widths = sorted({len(v) for v in versions})
    if len(widths) > 1:
        raise PresetError(
            f"{_listing(dirs)}: versions of {' and '.join(map(str, widths))} digits "
            f"({', '.join(versions)}); dbmate applies files in name order, which then differs "
            "from the order of their versions. Expected versions of one length (dbmate new "
            "writes 14-digit timestamps)"
        )


def _listing(dirs: Sequence[Path]) -> str:
    return ", ".join(str(d) for d in dirs)


def _spec_path(root: Path, path: Path) -> str:
    """``path`` as the spec writes it: from ``{here}`` when inside the project."""
    # Absolute, not resolved: npm's .bin/dbmate is a link to a script that must not be named.
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(os.path.abspath(root))
    except ValueError:
        return str(absolute)
    return "{here}" if relative == Path() else "{here}/" + relative.as_posix()


def _find_dbmate(root: Path, given: str | None) -> str:
    """dbmate as the spec names it: PATH, then the project's npm install, or ``--dbmate``."""
    if given is not None:
        if os.sep not in given and "/" not in given:
            if shutil.which(given) is None:
                raise PresetError(f"--dbmate {given}: no executable of that name on PATH")
            return given
        path = Path(given) if Path(given).is_absolute() else root / given
        if shutil.which(str(path)) is None:
            raise PresetError(f"--dbmate {given}: {path} is not an executable file")
        return _spec_path(root, path)
    if shutil.which("dbmate") is not None:
        return "dbmate"
    wrapper = root / "node_modules" / ".bin" / "dbmate"
    if shutil.which(str(wrapper)) is not None:
        # The spec names the npm wrapper, the same on every OS; the adapter runs the Go
        # binary it would start (see resolve_dbmate).
        return _spec_path(root, wrapper)
    raise PresetError(
        f"dbmate: not on PATH and not at {wrapper} (npm install --save-dev dbmate); "
        "pass its path with --dbmate PATH"
    )


def _render(root: Path, project: Project) -> str:
    q = _toml
    dirs = ", ".join(f'"--migrations-dir", {q(d)}' for d in project.migrations_dirs)
    tail = f'{dirs}, "--migrations-table", {q(project.table)}, "--dbmate", {q(project.dbmate)}'
    table = project.table
    latest_query = q(f"SELECT max(version) FROM {table}")
    stamp = q(f"INSERT INTO {table} (version) VALUES ('{{version}}')")
    if project.engine != SQLITE:
        engine = project.engine
        server = '"{python}", "-m", "migration_harness.presets.server"'
        head = _head(root, project, f'{tail}, "--url", "{{database_url}}"', "{database_url}")
        return f"""\
# The migration safety contract for {q(root.name)}, dbmate on {engine}.
# Written by `migration-harness init --preset dbmate --database {engine}`; run
# `migration-harness check`. check starts a throwaway {engine} server and gives each case
# a database of its own ({{database_url}}); the project's DATABASE_URL is not used.
{head}
# `dbmate status` prints a checklist, not one version: read the bookkeeping table with the
# server's own client. The content is the harness's canonical dump of the database.
version = [{server}, "version", "{{database_url}}", {latest_query}]
stamp = [{server}, "execute", "{{database_url}}", {stamp}]
# dbmate takes no migration lock on a server: nothing to hold (lock-held and stale-lock do
# not apply), and racing `dbmate up` runs must each succeed, as several deploys at once
# would need.
on_lock_held = "wait"
lock_wait_s = 10
# An applied version with no file (from a newer checkout): dbmate ignores it.
on_ahead = "compat"

[target.database]
engine = "{engine}"
"""
    sqlite = '"{python}", "-m", "migration_harness.presets.sqlite"'
    head = _head(root, project, tail, "sqlite:{repo}")
    return f"""\
# The migration safety contract for {q(root.name)}, dbmate with a SQLite database.
# Written by `migration-harness init --preset dbmate`; run `migration-harness check`.
# Every value below was read from the project; what the comments say dbmate does was
# measured with dbmate 2.36.0 on SQLite.
{head}
# `dbmate status` prints a checklist, not one version: read the bookkeeping table.
version = [{sqlite}, "version", "{{repo}}", {latest_query}]
stamp = [{sqlite}, "execute", "{{repo}}", {stamp}]
# Columns, indexes and rows of every table, the bookkeeping included (it holds only the
# versions, no times).
dump = [{sqlite}, "dump", "{{repo}}"]
# dbmate keeps no migration lock on SQLite: the lock is SQLite's own write lock. dbmate
# waits 5 s for it (its driver's busy timeout), then gives up, exit 2,
# `Error: database is locked`, the database untouched. Killed while holding it, a process
# leaves no lock behind (the OS drops it): the next run succeeds.
lock = {{ path = "{{repo}}", style = "sqlite" }}
on_lock_held = "wait"
lock_wait_s = 5
lock_message = "database is locked"
# An applied version with no file (from a newer checkout): dbmate ignores it, exit 0,
# silent, and applies any older file still pending (`up --strict` does the same).
on_ahead = "compat"
# Racing `dbmate up` runs: dbmate takes no lock before it reads what is applied, so two
# runs apply the same file; the loser exits 2 (`Error: duplicate column name: slug`,
# `table ... already exists`, `UNIQUE constraint failed: {table}.version`).
# Each migration runs in a transaction with its bookkeeping row: the database ends right.
"""


def _head(root: Path, project: Project, tail: str, url: str) -> str:
    """The spec's [target] up to the commands that migrate (``url``: as the comment says
    dbmate is pointed at the database)."""
    q = _toml
    adapter = '"{python}", "-m", "migration_harness.presets.dbmate"'
    versions = ", ".join(q(v) for v in project.versions)
    return f"""\
[target]
name = {q(root.name)}
# dbmate's versions: the digits that start each migration file's name, in the order dbmate
# applies them (by file name).
versions = [{versions}]
# A version no file has, for `ahead` (a database a newer checkout already migrated).
future_version = {q(_future_version(project.versions))}
# Each version's schema differs (that is what a migration does), so a database reached by
# any path must equal one created directly at that version.
content = "per-version"
# dbmate has no target version and `rollback` undoes one migration a run: the adapter copies
# the files up to {{version}} or {{to}} into the case's scratch directory (removed after)
# and runs `dbmate --url {url} --no-dump-schema up` on them, or runs
# `dbmate rollback` until {{to}} is the latest applied. Nothing in the project changes.
create = [{adapter}, "up", "{{repo}}", "--to", "{{version}}", {tail}]
migrate = [{adapter}, "up", "{{repo}}", "--to", "{{to}}", {tail}]
revert = [{adapter}, "rollback", "{{repo}}", "--to", "{{to}}", {tail}]"""


def _future_version(versions: Sequence[str]) -> str:
    """The greatest version of the same length: after every file, and no file has it."""
    width = len(versions[-1])
    future = "9" * width
    return future if future not in versions else "9" * (width + 1)


def _toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; non-ASCII kept as it is)."""
    return json.dumps(text, ensure_ascii=False)


# --- the adapter ----------------------------------------------------------------------


class AdapterError(MigrationHarnessError):
    """A message for stderr and exit status 2: the adapter cannot do what it was asked."""


class _Stopped(MigrationHarnessError):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    db = Path(args.db).absolute()
    try:
        files = _adapter_files(args.migrations_dir)
        versions = [_version(f) for f in files]
        if args.to not in versions:
            raise AdapterError(
                f"no migration file with version {args.to} in "
                f"{', '.join(args.migrations_dir)} (versions: {', '.join(versions) or 'none'})"
            )
        base = [
            resolve_dbmate(args.dbmate),
            "--url",
            args.url or sqlite_url(db),
            "--migrations-table",
            args.migrations_table,
            "--no-dump-schema",
        ]
        _stop_on_signals()
        if args.command == "up":
            return _up(db, base, files[: versions.index(args.to) + 1])
        return _rollback(db, base, args, files)
    except AdapterError as exc:
        print(f"dbmate adapter: {exc}", file=sys.stderr)
        return 2
    except _Stopped as stop:
        return 128 + stop.signum


def _adapter_files(dirs: Sequence[str]) -> list[Path]:
    try:
        return migration_files([Path(d) for d in dirs])
    except OSError as exc:
        where = exc.filename if exc.filename is not None else ", ".join(dirs)
        raise AdapterError(
            f"cannot read the migrations directory: {where}: {exc.strerror or exc}"
        ) from None


def _up(db: Path, base: list[str], files: Sequence[Path]) -> int:
    with _files_dir(db, files) as files_dir:
        return _run([*base, "--migrations-dir", files_dir.name, "up"], cwd=db.parent)


def _rollback(db: Path, base: list[str], args: argparse.Namespace, files: list[Path]) -> int:
    if args.url:
        applied = _applied_on_server(args.url, args.migrations_table)
    elif not db.is_file():
        raise AdapterError(f"no database at {db}")
    else:
        applied = applied_versions(db, args.migrations_table)
    versions = [_version(f) for f in files]
    # dbmate rolls back the latest applied migration it has a file for: one per run.
    above = [v for v in versions[versions.index(args.to) + 1 :] if v in applied]
    with _files_dir(db, files) as files_dir:
        for _ in above:
            status = _run([*base, "--migrations-dir", files_dir.name, "rollback"], cwd=db.parent)
            if status != 0:
                return status
    return 0


def applied_versions(db: Path, table: str) -> set[str]:
    try:
        with contextlib.closing(sqlite3.connect(db)) as connection:
            rows = connection.execute(f'SELECT version FROM "{table}"').fetchall()
    except sqlite3.Error as exc:
        raise AdapterError(f"{db}: cannot read the applied versions from {table}: {exc}") from None
    return {str(r[0]) for r in rows}


def _applied_on_server(url: str, table: str) -> set[str]:
    from migration_harness.presets.server import rows

    try:
        return {r[0] for r in rows(url, f"SELECT version FROM {table}")}
    except MigrationHarnessError as exc:
        raise AdapterError(f"cannot read the applied versions from {table}: {exc}") from None


@contextlib.contextmanager
def _files_dir(db: Path, files: Sequence[Path]) -> Iterator[Path]:
    """A directory holding copies of ``files``, beside ``db``, removed after.

    dbmate is run from ``db``'s directory and given this one by its name alone: dbmate
    splits a ``--migrations-dir`` value at commas (a list flag), so a path through a
    directory named ``a,b`` names two directories that do not exist. The name must not
    start with the database's name and ``-``: such a file would be one of the database's
    companions (``-journal``, ``-wal``). Copies, not links: Windows allows symbolic links
    only to some users, and the files are small.
    """
    prefix = "mh-dbmate-files-"
    if prefix.startswith(f"{db.name}-"):
        prefix = "files-mh-dbmate-"
    files_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=db.parent))
    try:
        for file in files:
            shutil.copyfile(file, files_dir / file.name)
        yield files_dir
    finally:
        shutil.rmtree(files_dir, ignore_errors=True)


def sqlite_url(db: Path) -> str:
    """``sqlite:`` and the path, percent-encoded, for dbmate's ``--url``.

    Two paths dbmate cannot open (measured, 2.36): one with ``?`` (its SQLite driver reads
    the rest as options, and opens the part before it) and one with a ``%XX`` escape that
    decodes, when no other ``%`` breaks the decoding (dbmate decodes the path twice: a
    directory named ``%41`` gives ``A``). The adapter refuses those rather than let dbmate
    write another file.
    """
    text = db.as_posix()
    if "?" in text:
        raise AdapterError(f"dbmate cannot open a SQLite database whose path has a '?': {db}")
    if "%" in text and _decodes(text):
        raise AdapterError(
            f"dbmate cannot open {db}: it decodes the URL's path twice, so "
            f"{unquote(text)} would be opened instead"
        )
    return "sqlite:" + quote(text, safe="/:")


def _decodes(text: str) -> bool:
    """True when every ``%`` in ``text`` starts a valid escape (Go's PathUnescape succeeds)."""
    return re.fullmatch(r"(?:[^%]|%[0-9A-Fa-f]{2})*", text) is not None


def resolve_dbmate(given: str) -> str:
    """The executable to run for ``given``: for dbmate's npm wrapper, the Go binary it starts.

    The wrapper (``node_modules/.bin/dbmate``, a node script) starts the binary as a child
    and does not pass signals on: a SIGKILL to the wrapper leaves the binary running and
    migrating (measured). The binary itself stops with the adapter. Found the way the
    wrapper finds it (node's module lookup of ``@dbmate/<platform>-<arch>``); when it is
    not there, the wrapper runs.
    """
    found = shutil.which(given)
    if found is None:
        raise AdapterError(f"dbmate: {given!r} is not an executable (on PATH or as a path)")
    # Absolute: dbmate runs from the database's directory.
    absolute = Path(os.path.abspath(found))
    binary = _npm_binary(absolute)
    return str(binary if binary is not None else absolute)


def _npm_binary(found: Path) -> Path | None:
    package = _npm_package(found)
    if package is None:
        return None
    name = "dbmate.exe" if sys.platform == "win32" else "dbmate"
    wanted = Path("@dbmate", _node_platform(), "bin", name)
    for directory in (package, *package.parents):
        if directory.name == "node_modules":
            continue
        candidate = directory / "node_modules" / wanted
        if candidate.is_file():
            return candidate
    return None


def _npm_package(found: Path) -> Path | None:
    """The ``dbmate`` npm package directory behind a wrapper, if ``found`` is one."""
    if found.parent.name == ".bin":  # npm's link (a .cmd file on Windows)
        package = found.parent.parent / "dbmate"
        return package if (package / "package.json").is_file() else None
    real = found.resolve()
    if real.name == "cli.js" and real.parent.name == "dist":  # a global install's link
        return real.parent.parent
    return None


def _node_platform() -> str:
    """What node calls this OS and CPU (``process.platform``-``process.arch``)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
    return f"{sys.platform}-{arch.get(machine, machine)}"


def _run(argv: list[str], cwd: Path) -> int:
    """Run dbmate with our stdout and stderr, stopping it if the adapter is stopped."""
    try:
        child = subprocess.Popen(argv, cwd=cwd, **_child_kwargs())
    except OSError as exc:
        raise AdapterError(f"cannot run {argv[0]}: {exc}") from None
    try:
        return child.wait()
    finally:
        _stop(child)


def _stop(child: subprocess.Popen[Any]) -> None:
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(CHILD_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _child_kwargs() -> dict[str, Any]:
    """On Linux, dbmate is killed if the adapter dies, even by SIGKILL to it alone.

    The harness kills the adapter's whole process group; this covers a kill of the adapter
    alone, which would otherwise orphan a dbmate that goes on migrating (as the npm
    wrapper's does). Other systems have no such setting.
    """
    if not sys.platform.startswith("linux"):
        return {}
    return {"preexec_fn": _die_with_parent(os.getpid())}


def _die_with_parent(parent: int) -> Callable[[], None]:
    def preexec() -> None:
        import ctypes  # by hand: neither the standard library nor psutil exposes prctl

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the adapter died before the setting took
            os._exit(1)

    return preexec


def _stop_on_signals() -> None:
    """SIGTERM, SIGINT and SIGHUP unwind the adapter (stopping dbmate, removing its files).

    Not restored after: ``main`` is the process's command, run once.
    """
    wanted = [signal.SIGTERM, signal.SIGINT]
    if hasattr(signal, "SIGHUP"):
        wanted.append(signal.SIGHUP)

    def stop(signum: int, _frame: FrameType | None) -> NoReturn:
        raise _Stopped(signum)

    for signum in wanted:
        signal.signal(signum, stop)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m migration_harness.presets.dbmate",
        description="dbmate up to a version, or back down to one, on a SQLite file or --url",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("up", "apply the migrations up to --to (and no further)"),
        ("rollback", "roll back the migrations above --to, one dbmate rollback each"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "db", help="the SQLite database file (with --url: a directory of the case's)"
        )
        command.add_argument("--to", required=True, metavar="VERSION")
        command.add_argument("--migrations-dir", action="append", required=True, metavar="DIR")
        command.add_argument("--migrations-table", default=DEFAULT_TABLE, metavar="TABLE")
        command.add_argument("--dbmate", default="dbmate", metavar="EXE")
        command.add_argument(
            "--url", metavar="URL", help="a database on a server (postgresql://, mysql://)"
        )
    return parser


if __name__ == "__main__":
    sys.exit(main())
