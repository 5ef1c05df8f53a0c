"""The target model: what a migration tool looks like to the contract.

A target is described once, in ``migration-harness.toml`` (``[target]``), in
``pyproject.toml`` (``[tool.migration-harness.target]``) or built in Python.
Everything is validated before anything runs: a bad spec raises
:class:`SpecError`, one message naming the file, the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import json
import math
import posixpath
import re
import string
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any, cast

from migration_harness.databases import LOCK_OPERAND, SERVER_LOCK_STYLES
from migration_harness.errors import MigrationHarnessError
from migration_harness.locks import STYLES

SPEC_FILENAME = "migration-harness.toml"
REFERENCE_SPEC = Path(__file__).parent / "reference" / SPEC_FILENAME

Command = tuple[str, ...]

# Placeholders every template may use, filled per argument (never through a shell).
GLOBAL_PLACEHOLDERS = ("python", "here", "scripts")
# And, with a [target.database], everywhere {repo} may be used: the repo's own database.
DATABASE_PLACEHOLDERS = ("database_url", "db_host", "db_port", "db_name", "db_user")
#: The database servers a target may ask for.
DATABASE_ENGINES = ("postgresql", "mariadb")


class SpecError(MigrationHarnessError, ValueError):
    """A target spec that cannot be used; the message says where and how to fix it."""

    def __init__(self, source: str, key: str, expected: str) -> None:
        self.source = source
        self.key = key
        self.expected = expected
        super().__init__(f"{source}: {key}: {expected}")


#: The future version ``ahead`` stamps on a target with named versions, unless the spec
#: names one (``future_version``); integer versions use ``latest + 1``.
DEFAULT_FUTURE_VERSION = "9999_future"
# A version name fills {from}, {to} and {version} in commands, paths and executable names:
# plain characters only, so that a name can never be a separator, ".." or a placeholder.
VERSION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,99}$")
# oldest/latest not given (a target with named versions sets them to its first and last
# index); a distinct object, so that a user's -1 is still reported as out of bounds.
_UNSET = cast(int, object())

#: How many times ``concurrent`` runs its race. A race breaks a careless tool in some
#: rounds only (measured on real tools: about half); ten rounds find a 50 % race with
#: odds above 99.9 %, and a round of a quick tool takes well under a second.
DEFAULT_ROUNDS = 10


@dataclass(frozen=True)
class LockSpec:
    style: str
    path: str | None = None
    hold: Command | None = None
    ready: str | None = None
    release: Command | None = None
    # What names a server lock (see SERVER_LOCK_STYLES): an advisory lock's number, a
    # table, a GET_LOCK name.
    key: int | None = None
    table: str | None = None
    name: str | None = None

    @property
    def operand(self) -> int | str | None:
        """What a server lock style locks: its ``key``, ``table`` or ``name``."""
        return self.key if self.key is not None else self.table or self.name


@dataclass(frozen=True)
class DaemonSpec:
    start: Command
    ready: str | None = None
    stop: Command | None = None
    migrates_on_start: bool = False
    start_timeout_s: float = 30.0


@dataclass(frozen=True)
class TombstoneSpec:
    old: str
    open_old: Command
    new: str | None = None
    message: str = "(?i)tombstone|migrated"


@dataclass(frozen=True)
class BackupSpec:
    """``at`` is the backup of file ``of`` made by the step ``{from}`` to ``{to}``."""

    at: str
    of: str


@dataclass(frozen=True)
class ExternalSpec:
    name: str


@dataclass(frozen=True)
class DatabaseSpec:
    """The tool keeps its data on a database server the harness starts: each repo gets a
    database of its own on it (``{database_url}``, ``{db_name}``, ...)."""

    engine: str
    bindir: str | None = None


@dataclass(frozen=True)
class CrashSpec:
    backend: str = "auto"
    hook: bool = False
    max_points: int = 40
    sweep_k: int = 8
    jobs: int = 0
    """Crash points run side by side, each on its own copy of the repo (0: two per CPU,
    one on Windows)."""


@dataclass(frozen=True)
class Target:
    """A migration tool as the contract sees it. Commands are argument templates.

    Versions are integers ``oldest``..``latest`` or names (``versions``, oldest first).
    Inside, a version is always an index (for named versions, its position in
    ``versions``); :meth:`version_name` gives what the user sees and the tool is given."""

    name: str
    oldest: int = _UNSET
    latest: int = _UNSET
    create: Command = field(kw_only=True)
    migrate: Command = field(kw_only=True)
    # None: the database's canonical dump (a target with a database only)
    dump: Command | None = field(default=None, kw_only=True)
    version: Command | None = None
    stamp: Command | None = None
    version_file: str | None = None
    revert: Command | None = None
    lock: LockSpec | None = None
    on_lock_held: str = "fail-fast"
    lock_wait_s: float = 10.0
    on_stale_lock: str = "recover"
    stale_after_s: float = 0.0
    lock_message: str = "(?i)lock"
    on_ahead: str = "refuse"
    ahead_message: str = "{version}"
    idempotent: str = "bytes"
    ignore: tuple[str, ...] = ()
    concurrent_from: int | str | None = None  # a version name when versions are named
    concurrent_n: int = 4
    concurrent_rounds: int = DEFAULT_ROUNDS
    concurrent_delays: str = "auto"
    backups: tuple[BackupSpec, ...] = ()
    external: ExternalSpec | None = None
    tombstone: TombstoneSpec | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    path: tuple[str, ...] = ()
    # name -> "module:function": console scripts made for each case (first on PATH).
    console_scripts: Mapping[str, str] = field(default_factory=dict)
    crash: CrashSpec = CrashSpec()
    failure_hook: bool = False
    timeout_s: float = 120.0
    daemon: DaemonSpec | None = None
    source: str = "<python>"
    here: str = "."
    versions: tuple[str, ...] | None = None
    future_version: str | None = None
    content: str = "same"
    create_once: bool = True  # copy a repo created once per run, where it is self-contained
    database: DatabaseSpec | None = None

    def __post_init__(self) -> None:
        _resolve_versions(self)
        _check_target(self)

    def with_env(self, **extra: str) -> Target:
        return dataclasses.replace(self, env={**self.env, **extra})

    @property
    def known_versions(self) -> range:
        """The versions this tool knows, as indices."""
        return range(self.oldest, self.latest + 1)

    @property
    def future(self) -> int:
        """A version newer than the tool knows (``ahead`` stamps it)."""
        return self.latest + 1

    def version_name(self, version: int) -> str:
        """How a version reads in placeholders, case ids and messages."""
        if self.versions is None:
            return str(version)
        if version == self.future:
            return self.future_version or DEFAULT_FUTURE_VERSION
        return self.versions[version]

    def version_index(self, name: str) -> int | None:
        """The version a name (as a tool prints it) stands for; None if it names none."""
        if self.versions is None:
            return None
        if name == self.version_name(self.future):
            return self.future
        return self.versions.index(name) if name in self.versions else None

    def expected_names(self) -> str:
        """The names a tool may print as its version, for messages."""
        assert self.versions is not None
        shown = [toml_spelling(v) for v in self.versions]
        if len(shown) > 8:  # a long history: its ends say what the names look like
            shown = [*shown[:3], f"... ({len(shown) - 6} more)", *shown[-3:]]
        known = ", ".join(shown)
        return f"one of {known} (or {toml_spelling(self.version_name(self.future))}, ahead)"

    @property
    def start_of_concurrency(self) -> int:
        if self.concurrent_from is None:
            return self.oldest
        if isinstance(self.concurrent_from, str):
            index = self.version_index(self.concurrent_from)
            assert index is not None  # checked when the target was built
            return index
        return self.concurrent_from


def check_console_scripts_importable(target: Target) -> None:
    """Raise :class:`SpecError` for a ``console_scripts`` entry whose package this Python
    cannot import. Kept out of loading (a spec reads the same in any environment); run
    before a run starts, so the mistake is one line, not an error in every case."""
    import importlib.util

    for name, entry_point in target.console_scripts.items():
        package = entry_point.split(":")[0].split(".")[0]
        if importlib.util.find_spec(package) is None:  # finds the package; imports nothing
            raise SpecError(
                target.source,
                f"target.console_scripts.{name}",
                f"package {package!r} of {entry_point!r} is not importable by this Python"
                f" ({sys.executable}); install it into the environment that runs the harness",
            )


# --- placeholders ---------------------------------------------------------------


def fill(template: str, values: Mapping[str, object]) -> str:
    """Fill one argument's placeholders; unknown ones are a :class:`KeyError`."""
    out = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            if spec or conversion:
                raise KeyError(name)
            out.append(str(values[name]))
    return "".join(out)


def global_values(target: Target) -> dict[str, str]:
    return {"python": sys.executable, "here": target.here, "scripts": scripts_dir()}


def scripts_dir() -> str:
    """Where pip put console scripts for the running interpreter (venv or user scheme)."""
    return sysconfig.get_path("scripts")


def fill_command(template: Command, values: Mapping[str, object]) -> list[str]:
    return [fill(arg, values) for arg in template]


# --- validation of a built target (shared by TOML and Python users) ------------

_CHOICES = {
    "on_lock_held": ("fail-fast", "wait"),
    "on_stale_lock": ("recover", "refuse"),
    "on_ahead": ("refuse", "compat"),
    "idempotent": ("bytes", "dump"),
    "content": ("same", "per-version"),
}
# A target may name any style a holder can take: a file's, a command's or a server's.
LOCK_STYLES = (*STYLES, *SERVER_LOCK_STYLES)
CRASH_BACKENDS = ("auto", "strace", "hook", "sweep")
RACE_DELAYS = ("auto", "strace", "off")

# Which placeholders each templated key may use, beyond the global ones.
_COMMAND_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "create": ("repo", "version"),
    "migrate": ("repo", "from", "to"),
    "revert": ("repo", "from", "to"),
    "version": ("repo",),
    "dump": ("repo",),
    "stamp": ("repo", "version"),
    "lock.hold": ("repo",),
    "lock.release": ("repo",),
    "lock.table": ("repo",),
    "lock.name": ("repo",),
    "daemon.start": ("repo",),
    "daemon.stop": ("repo",),
    "tombstone.open_old": ("repo",),
}
_PATH_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "version_file": ("repo",),
    "lock.path": ("repo",),
    "ignore": ("repo",),
    "backups": ("repo", "from", "to"),
    "external_migrations": ("from", "to"),
    "tombstone.old": ("repo",),
    "tombstone.new": ("repo",),
    "path": (),
    "env": (),
}


def _resolve_versions(t: Target) -> None:
    """Check ``versions`` (or the integer ``oldest``/``latest``) and, for named versions, set
    ``oldest``/``latest`` to the first and last index."""

    def fail(key: str, expected: str) -> SpecError:
        return SpecError(t.source, f"target.{key}", expected)

    if t.versions is None:
        for key in ("oldest", "latest"):
            if getattr(t, key) is _UNSET:
                raise fail(key, "missing; expected an integer (or name the versions: `versions`)")
        if t.future_version is not None:
            raise fail(
                "future_version",
                f"got {short_repr(t.future_version)}, but it names a version only with"
                " `versions`; integer versions use latest + 1",
            )
        return
    names = _check_version_names(t.versions, fail)
    object.__setattr__(t, "versions", names)  # a list given in Python becomes a tuple
    first_last = (0, len(names) - 1)
    if (t.oldest, t.latest) not in ((_UNSET, _UNSET), first_last):  # dataclasses.replace
        raise fail(
            "versions",
            "expected either `versions` (named) or `oldest` and `latest` (integers), not both",
        )
    object.__setattr__(t, "oldest", first_last[0])
    object.__setattr__(t, "latest", first_last[1])
    if t.future_version is not None:
        if not isinstance(t.future_version, str) or not VERSION_NAME.match(t.future_version):
            raise fail("future_version", _bad_name(t.future_version))
        if t.future_version in names:
            raise fail(
                "future_version",
                f"{short_repr(t.future_version)} is one of `versions`; expected a name the tool"
                f" does not know (a version newer than {short_repr(names[-1])})",
            )
    elif DEFAULT_FUTURE_VERSION in names:
        raise fail(
            "future_version",
            f"missing; the default {short_repr(DEFAULT_FUTURE_VERSION)} is one of `versions`:"
            " expected the name of a version the tool does not know",
        )


def _check_version_names(names: object, fail: Any) -> tuple[str, ...]:
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise fail("versions", f"expected a list of version names, got {short_repr(names)}")
    if not 2 <= len(names) <= MAX_VERSION + 1:
        raise fail(
            "versions",
            f"expected 2 to {MAX_VERSION + 1} version names, oldest first,"
            f" got {len(names)}: {short_repr(list(names))}",
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not VERSION_NAME.match(name):
            raise fail("versions", f"item {i + 1}: {_bad_name(name)}")
        if name in seen:
            raise fail(
                "versions",
                f"{short_repr(name)} is given twice (items {seen[name] + 1} and {i + 1});"
                " expected unique names, oldest first",
            )
        seen[name] = i
    return tuple(names)


def _bad_name(name: object) -> str:
    return (
        f"got {short_repr(name)}; expected a version name of letters, digits, '.', '_', '+'"
        " and '-' (at most 100, not starting with '.', '+' or '-'): it fills {from}, {to}"
        " and {version} in commands and paths"
    )


def _check_target(t: Target) -> None:
    src = t.source

    def fail(key: str, expected: str) -> SpecError:
        return SpecError(src, f"target.{key}", expected)

    _check_bounds(t, fail)
    if t.latest <= t.oldest:
        raise fail(
            "latest", f"expected an integer greater than oldest ({t.oldest}), got {t.latest}"
        )
    if t.version is None and t.version_file is None:
        raise fail(
            "version", "expected a `version` command or a `version_file` path; neither is set"
        )
    if t.dump is None and t.database is None:
        raise fail(
            "dump",
            "missing; expected a command that prints the repo's logical content (a target"
            " with a [target.database] may leave it out: the database's own dump is used)",
        )
    if t.database is not None and t.database.engine not in DATABASE_ENGINES:
        raise fail(
            "database.engine",
            f"expected one of {_quoted(DATABASE_ENGINES)}, got {short_repr(t.database.engine)}",
        )
    for key, choices in _CHOICES.items():
        value = getattr(t, key)
        if value not in choices:
            raise fail(key, f"expected one of {_quoted(choices)}, got {value!r}")
    if t.versions is not None and t.concurrent_from is not None:
        start = t.concurrent_from
        if not isinstance(start, str) or t.version_index(start) not in t.known_versions:
            raise fail(
                "concurrent.from",
                f'expected "oldest" or a name from `versions` ({short_repr(list(t.versions))}),'
                f" got {short_repr(start)}",
            )
    elif t.concurrent_from is not None and t.concurrent_from not in t.known_versions:
        raise fail(
            "concurrent.from",
            f"expected a version from {t.oldest} to {t.latest - 1},"
            f" got {short_repr(t.concurrent_from)}",
        )
    if t.concurrent_delays not in RACE_DELAYS:
        raise fail(
            "concurrent.delays",
            f"expected one of {_quoted(RACE_DELAYS)}, got {short_repr(t.concurrent_delays)}",
        )
    for key in ("lock_message", "ahead_message"):
        _check_regex(fail, key, getattr(t, key).replace("{version}", "0"))
    if t.lock is not None:
        _check_lock(t.lock, fail, t.database)
    if t.tombstone is not None:
        _check_regex(fail, "tombstone.message", t.tombstone.message)
    if t.daemon is not None and t.daemon.ready is not None:
        _check_regex(fail, "daemon.ready", t.daemon.ready)
    if t.crash.backend not in CRASH_BACKENDS:
        raise fail(
            "crash.backend", f"expected one of {_quoted(CRASH_BACKENDS)}, got {t.crash.backend!r}"
        )
    for key, template in _templates(t):
        allowed = GLOBAL_PLACEHOLDERS + _allowed_for(key)
        if t.database is not None and "repo" in allowed:
            allowed += DATABASE_PLACEHOLDERS
        for arg in template:
            _check_placeholders(fail, key, arg, allowed)
    for key, path in _scratch_paths(t):
        _check_contained(fail, key, path, relative_to_repo=key.startswith("ignore"))
    if t.external is not None:
        _check_step_name(fail, t.external.name)
    for name, entry_point in t.console_scripts.items():
        _check_console_script(fail, name, entry_point)


def _check_server_lock(lock: LockSpec, database: DatabaseSpec | None, fail: Any) -> None:
    engine, operand = SERVER_LOCK_STYLES[lock.style], LOCK_OPERAND[lock.style]
    if database is None or database.engine != engine:
        raise fail(
            "lock.style",
            f"style {lock.style!r} is a lock on a {engine} server: it needs"
            f' [target.database] with engine = "{engine}"',
        )
    if getattr(lock, operand) is None:
        what = {"key": "the advisory lock's number", "table": "the table it locks"}
        raise fail(
            f"lock.{operand}",
            f"style {lock.style!r} needs `{operand}`: {what.get(operand, 'the lock name')}"
            " as the tool uses it",
        )


def _check_lock(lock: LockSpec, fail: Any, database: DatabaseSpec | None = None) -> None:
    if lock.style not in LOCK_STYLES:
        raise fail("lock.style", f"expected one of {_quoted(LOCK_STYLES)}, got {lock.style!r}")
    if lock.style in SERVER_LOCK_STYLES:
        _check_server_lock(lock, database, fail)
        return
    if lock.style == "command":
        if lock.hold is None:
            raise fail("lock.hold", 'style "command" needs a `hold` command that takes the lock')
        if lock.ready is None:
            raise fail("lock.ready", 'style "command" needs `ready`: a regex the holder prints')
        _check_regex(fail, "lock.ready", lock.ready)
    elif lock.path is None:
        raise fail("lock.path", f"style {lock.style!r} needs the lock's `path`")


def _allowed_for(key: str) -> tuple[str, ...]:
    base = key.split("[", 1)[0]
    if base in _COMMAND_PLACEHOLDERS:
        return _COMMAND_PLACEHOLDERS[base]
    return _PATH_PLACEHOLDERS[base]


def _templates(t: Target) -> list[tuple[str, Sequence[str]]]:
    """Every templated value of the target, with the key that names it in messages."""
    out: list[tuple[str, Sequence[str]]] = []
    for key in ("create", "migrate", "revert", "version", "dump", "stamp"):
        cmd = getattr(t, key)
        if cmd is not None:
            out.append((key, cmd))
    if t.version_file is not None:
        out.append(("version_file", [t.version_file]))
    if t.lock is not None:
        for key in ("path", "hold", "release", "table", "name"):
            value = getattr(t.lock, key)
            if value is not None:
                out.append((f"lock.{key}", [value] if isinstance(value, str) else value))
    out.append(("ignore", t.ignore))
    out.extend(("backups", [b.at, b.of]) for b in t.backups)
    if t.external is not None:
        out.append(("external_migrations", [t.external.name]))
    if t.tombstone is not None:
        out.append(("tombstone.old", [t.tombstone.old]))
        out.append(("tombstone.open_old", t.tombstone.open_old))
        if t.tombstone.new is not None:
            out.append(("tombstone.new", [t.tombstone.new]))
    out.append(("path", t.path))
    out.append(("env", list(t.env.values())))
    if t.daemon is not None:
        out.append(("daemon.start", t.daemon.start))
        if t.daemon.stop is not None:
            out.append(("daemon.stop", t.daemon.stop))
    return out


def _check_placeholders(fail: Any, key: str, arg: str, allowed: tuple[str, ...]) -> None:
    try:
        fields = [(n, s, c) for _, n, s, c in string.Formatter().parse(arg) if n is not None]
    except ValueError as exc:
        raise fail(
            key, f"bad placeholder syntax in {arg!r} ({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    shown = ", ".join("{" + a + "}" for a in allowed)
    for name, spec, conversion in fields:
        if spec or conversion:
            written = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise fail(
                key,
                f"placeholder {written} in {short_repr(arg)}: conversions (!r) and format specs"
                f" (:>9) are not filled; write a plain {{{name}}}"
                " (a literal brace is {{ or }})",
            )
        if name not in allowed:
            raise fail(
                key, f"unknown placeholder {{{name}}} in {short_repr(arg)}; expected one of {shown}"
            )


# --- bounds: every number of a spec has a range, checked before anything runs ------------

MAX_VERSION = 1000
DAY_S = 86400.0

# key -> (lowest, highest) for the integers of a spec.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "oldest": (0, MAX_VERSION - 1),
    "latest": (0, MAX_VERSION),  # and above oldest, checked next
    "concurrent.n": (2, 64),
    "concurrent.rounds": (1, 1000),
    "crash.max_points": (1, 10_000),
    "crash.sweep_k": (2, 1000),
    "crash.jobs": (0, 64),
}
# key -> whether 0 is allowed, for the durations in seconds (all at most a day).
# stale_after_s = 0 means "a stale lock is recovered at once" (an OS lock dies with its holder).
SECONDS_BOUNDS: dict[str, bool] = {
    "lock_wait_s": False,
    "stale_after_s": True,
    "timeout_s": False,
    "daemon.start_timeout_s": False,
}


def _number_at(t: Target, key: str) -> object:
    if key == "concurrent.n":
        return t.concurrent_n
    if key == "concurrent.rounds":
        return t.concurrent_rounds
    if key.startswith("crash."):
        return getattr(t.crash, key[len("crash.") :])
    if key.startswith("daemon."):
        return None if t.daemon is None else getattr(t.daemon, key[len("daemon.") :])
    return getattr(t, key)


def _check_bounds(t: Target, fail: Any) -> None:
    for key, (low, high) in INT_BOUNDS.items():
        value = _number_at(t, key)
        if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
            raise fail(key, f"expected an integer from {low} to {high}, got {short_repr(value)}")
    if t.versions is None and t.concurrent_from is not None and not _is_int(t.concurrent_from):
        raise fail("concurrent.from", f"expected an integer, got {short_repr(t.concurrent_from)}")
    for key, zero_ok in SECONDS_BOUNDS.items():
        value = _number_at(t, key)
        if value is None:
            continue
        if not _is_seconds(value, zero_ok):
            lowest = "from 0" if zero_ok else "above 0"
            raise fail(
                key,
                f"expected a number of seconds {lowest} to {DAY_S:g} (a day),"
                f" got {short_repr(value)}",
            )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seconds(value: object, zero_ok: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return (value >= 0 if zero_ok else value > 0) and value <= DAY_S


def short_repr(value: object, limit: int = 60) -> str:
    """A value as it is written in TOML (``true``, ``"x"``, ``[1, 2]``), cut to one short
    line: a spec value may be a 20-digit integer or a long list."""
    text = toml_spelling(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def toml_spelling(value: object) -> str:
    """How ``value`` reads in a TOML file, so an error quotes what the user wrote."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # TOML basic strings escape as JSON does
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_spelling(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {toml_spelling(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    return repr(value)


# --- containment: every path a spec names lies inside the case's scratch directory ------

# Stand-ins used to decide containment before any case exists: a case's repo is always one
# directory directly inside its scratch directory, and the other placeholders are either
# numbers (no separators) or absolute paths outside it.
_SCRATCH = "/<scratch>"
_STAND_INS = {
    "repo": _SCRATCH + "/repo",
    "from": 0,
    "to": 1,
    "version": 0,
    "python": "/<python>",
    "here": "/<here>",
    "scripts": "/<scripts>",
}


def _scratch_paths(t: Target) -> list[tuple[str, str]]:
    """Every path-valued key the harness reads, writes or deletes, with its key."""
    out: list[tuple[str, str]] = []
    if t.version_file is not None:
        out.append(("version_file", t.version_file))
    if t.lock is not None and t.lock.path is not None:
        out.append(("lock.path", t.lock.path))
    for i, backup in enumerate(t.backups):
        out.extend(((f"backups[{i}].at", backup.at), (f"backups[{i}].of", backup.of)))
    if t.tombstone is not None:
        out.append(("tombstone.old", t.tombstone.old))
        if t.tombstone.new is not None:
            out.append(("tombstone.new", t.tombstone.new))
    out.extend((f"ignore[{i}]", glob) for i, glob in enumerate(t.ignore))
    return out


def is_contained(template: str, *, relative_to_repo: bool = False) -> bool:
    """Whether ``template`` names a path strictly inside the scratch directory, whatever the
    case's scratch directory turns out to be (``..`` and both separators normalised)."""
    try:
        filled = fill(template, _STAND_INS).replace("\\", "/")
    except (KeyError, ValueError):
        return False
    if relative_to_repo and not _names_a_root(filled):
        filled = _STAND_INS["repo"] + "/" + filled  # type: ignore[operator]
    return posixpath.normpath(filled).startswith(_SCRATCH + "/")


def _names_a_root(path: str) -> bool:
    """Whether ``path`` (separators already ``/``) is absolute on POSIX or on Windows
    (``C:/x``, ``C:x``, ``//server/share``): a spec is read on both."""
    return path.startswith("/") or bool(PureWindowsPath(path).drive)


def _check_contained(fail: Any, key: str, template: str, *, relative_to_repo: bool) -> None:
    if is_contained(template, relative_to_repo=relative_to_repo):
        return
    example = '"{repo}/repo.lock"' + (' or "repo.lock"' if relative_to_repo else "")
    raise fail(
        key,
        f"{short_repr(template, 300)} lies outside the case's scratch directory;"
        f" expected a path under {{repo}} such as {example} (absolute paths, {{here}}"
        " and a '..' that leaves the scratch directory are refused)",
    )


def _check_step_name(fail: Any, name: str) -> None:
    """The step name becomes a file the harness writes (a spy on PATH): a plain name only."""
    filled = fill(name, _STAND_INS)
    if not filled or filled in {".", ".."} or "/" in filled or "\\" in filled:
        raise fail(
            "external_migrations",
            f'expected an executable\'s name such as "mytool-{{from}}-to-{{to}}", got'
            f" {short_repr(name)} (no directory part)",
        )


# "package.module:function" (an attribute path after the colon), as in [project.scripts].
ENTRY_POINT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _check_console_script(fail: Any, name: str, entry_point: str) -> None:
    from pathvalidate import ValidationError, validate_filename

    key = f"console_scripts.{name}"
    try:  # the same name must make a file on every platform the spec may run on
        validate_filename(name, platform="universal")
    except ValidationError as exc:
        raise fail(
            key, f'expected a command name such as "mytool-1-to-2", got {short_repr(name)} ({exc})'
        ) from None
    if not ENTRY_POINT.match(entry_point):
        raise fail(
            key,
            'expected an entry point "package.module:function" (as in [project.scripts]),'
            f" got {short_repr(entry_point)}",
        )


def _check_regex(fail: Any, key: str, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise fail(key, f"expected a regular expression, got {pattern!r} ({exc})") from None


def _quoted(choices: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in choices)
