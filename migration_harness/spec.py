"""Load a :class:`~migration_harness.target.Target` from TOML, checking every key and type.

Accepted files: ``migration-harness.toml`` with a ``[target]`` table, or
``pyproject.toml`` with ``[tool.migration-harness.target]``.
"""

from __future__ import annotations

import difflib
import os
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from migration_harness.target import (
    DEFAULT_ROUNDS,
    REFERENCE_SPEC,
    SPEC_FILENAME,
    BackupSpec,
    CrashSpec,
    DaemonSpec,
    DatabaseSpec,
    ExternalSpec,
    LockSpec,
    SpecError,
    Target,
    TombstoneSpec,
    short_repr,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

Checker = Callable[[Any], bool]

#: A spec is a hand-written file: anything larger is refused unread.
MAX_SPEC_BYTES = 1024 * 1024


def find_spec(start: Path) -> Path | None:
    """The spec for a project directory: migration-harness.toml, else a pyproject.toml with one."""
    candidate = start / SPEC_FILENAME
    if candidate.is_file():
        return candidate
    pyproject = start / "pyproject.toml"
    if pyproject.is_file():
        # A pyproject that cannot be read is an error, not "no spec": falling back to the
        # reference tool would pass a run that never looked at the user's tool.
        data = _parse(read_spec_text(pyproject, pyproject.name), pyproject.name)
        if "migration-harness" in data.get("tool", {}):
            return pyproject
    return None


def load_reference_target() -> Target:
    return load_target(REFERENCE_SPEC, display="<built-in reference tool>")


def load_target(path: Path, *, display: str | None = None) -> Target:
    """Read and validate a spec file; every problem is a :class:`SpecError`."""
    source = display or str(path)
    data = _parse(read_spec_text(path, source), source)
    table, prefix = _target_table(data, path, source)
    return _build(table, prefix, source, here=str(path.resolve().parent))


def read_spec_text(path: Path, source: str) -> str:
    """The text of a spec: a regular file of at most :data:`MAX_SPEC_BYTES`, read with that
    bound. A FIFO, device or directory is refused from its stat, before any open, so a FIFO
    with no writer or /dev/zero cannot hang the loader or fill memory."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError(source, "file", "not found; pass --config with an existing file") from None
    except OSError as exc:
        raise SpecError(source, "file", f"cannot be read ({exc.strerror or exc})") from None
    _check_regular(info, source)
    try:
        # O_NONBLOCK: should the path be swapped for a FIFO after the stat, open still returns.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise SpecError(source, "file", f"cannot be read ({exc.strerror or exc})") from None
    try:
        _check_regular(os.fstat(fd), source)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(source, "file", f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(source, "file", f"is larger than {MAX_SPEC_BYTES} bytes (1 MiB)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"{exc.reason} at byte {exc.start}"
        raise SpecError(source, "file", f"is not UTF-8 text ({reason})") from None


def _check_regular(info: os.stat_result, source: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(
            source, "file", f"is {_file_kind(info.st_mode)}; expected a regular TOML file"
        )
    if info.st_size > MAX_SPEC_BYTES:
        raise SpecError(
            source, "file", f"is {info.st_size} bytes; expected at most {MAX_SPEC_BYTES} (1 MiB)"
        )


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, "file", f"is not valid TOML ({exc})") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts (4300 digits)
        raise SpecError(source, "file", f"cannot be parsed ({exc})") from None


def _target_table(data: dict[str, Any], path: Path, source: str) -> tuple[dict[str, Any], str]:
    if path.name == "pyproject.toml":
        section = data.get("tool", {}).get("migration-harness")
        if not isinstance(section, dict) or not isinstance(section.get("target"), dict):
            raise SpecError(source, "tool.migration-harness.target", "expected a table; none found")
        _no_unknown(section, {"target"}, "tool.migration-harness", source)
        return section["target"], "tool.migration-harness.target"
    _no_unknown(data, {"target"}, "", source)
    if not isinstance(data.get("target"), dict):
        raise SpecError(source, "target", "expected a [target] table; none found")
    return data["target"], "target"


# --- value checkers --------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_command(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(a, str) for a in v)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(a, str) for a in v)


def _is_table(v: Any) -> bool:
    return isinstance(v, dict)


INTEGER = (_is_int, "an integer")
NUMBER = (_is_number, "a number of seconds")
STRING = (_is_str, "a string")
BOOL = (_is_bool, "true or false")
COMMAND = (_is_command, 'a non-empty list of strings, e.g. ["mytool", "migrate", "{repo}"]')
STRINGS = (_is_str_list, "a list of strings")
TABLE = (_is_table, "a table")

TARGET_KEYS: dict[str, tuple[Checker, str]] = {
    "name": STRING,
    "oldest": INTEGER,
    "latest": INTEGER,
    "versions": (_is_str_list, 'a list of version names, oldest first, e.g. ["0001_initial"]'),
    "future_version": STRING,
    "content": STRING,
    "create": COMMAND,
    "create_once": BOOL,
    "migrate": COMMAND,
    "revert": COMMAND,
    "version": COMMAND,
    "dump": COMMAND,
    "stamp": COMMAND,
    "version_file": STRING,
    "lock": TABLE,
    "on_lock_held": STRING,
    "lock_wait_s": NUMBER,
    "on_stale_lock": STRING,
    "stale_after_s": NUMBER,
    "lock_message": STRING,
    "on_ahead": STRING,
    "ahead_message": STRING,
    "idempotent": STRING,
    "ignore": STRINGS,
    "concurrent": TABLE,
    "backups": (lambda v: isinstance(v, list), "a list of paths or {at, of} tables"),
    "external_migrations": (lambda v: isinstance(v, (str, dict)), "a name pattern or a table"),
    "tombstone": TABLE,
    "env": TABLE,
    "path": STRINGS,
    "console_scripts": TABLE,
    "crash": TABLE,
    "failure_hook": BOOL,
    "timeout_s": NUMBER,
    "daemon": TABLE,
    "database": TABLE,
}
# And versions, or oldest and latest; and dump, unless there is a [target.database].
REQUIRED = ("create", "migrate")
LOCK_KEYS = {
    "path": STRING,
    "style": STRING,
    "hold": COMMAND,
    "ready": STRING,
    "release": COMMAND,
    "key": INTEGER,
    "table": STRING,
    "name": STRING,
}
CONCURRENT_KEYS = {
    "from": (lambda v: _is_int(v) or _is_str(v), 'a version number or name, or "oldest"'),
    "n": INTEGER,
    "rounds": INTEGER,
    "delays": STRING,
}
BACKUP_KEYS = {"at": STRING, "of": STRING}
EXTERNAL_KEYS = {"name": STRING}
TOMBSTONE_KEYS = {"old": STRING, "new": STRING, "open_old": COMMAND, "message": STRING}
CRASH_KEYS = {
    "backend": STRING,
    "hook": BOOL,
    "max_points": INTEGER,
    "sweep_k": INTEGER,
    "jobs": INTEGER,
}
DATABASE_KEYS = {"engine": STRING, "bindir": STRING}
DAEMON_KEYS = {
    "start": COMMAND,
    "ready": STRING,
    "stop": COMMAND,
    "migrates_on_start": BOOL,
    "start_timeout_s": NUMBER,
}


class _Reader:
    """Typed access to one table, raising SpecError with the key's full name."""

    def __init__(
        self, table: Mapping[str, Any], prefix: str, source: str, keys: Mapping[str, Any]
    ) -> None:
        _no_unknown(table, set(keys), prefix, source)
        self.table, self.prefix, self.source, self.keys = table, prefix, source, keys
        for key, value in table.items():
            check, expected = keys[key]
            if not check(value):
                raise SpecError(
                    source, self.key(key), f"expected {expected}, got {short_repr(value)}"
                )

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str, default: Any = None) -> Any:
        value = self.table.get(name, default)
        return tuple(value) if isinstance(value, list) and name != "backups" else value

    def require(self, name: str) -> Any:
        if name not in self.table:
            expected = self.keys[name][1]
            raise SpecError(self.source, self.key(name), f"missing; expected {expected}")
        return self.get(name)

    def sub(self, name: str, keys: Mapping[str, Any]) -> _Reader | None:
        value = self.table.get(name)
        if value is None:
            return None
        return _Reader(value, self.key(name), self.source, keys)


def _build(table: dict[str, Any], prefix: str, source: str, *, here: str) -> Target:
    r = _Reader(table, prefix, source, TARGET_KEYS)
    for key in REQUIRED:
        r.require(key)
    if "dump" not in table and "database" not in table:
        raise SpecError(
            source,
            r.key("dump"),
            "missing; expected a command that prints the repo's logical content, e.g."
            ' ["mytool", "dump", "{repo}"] (a target with a [target.database] may leave it'
            " out: the database's own dump is used)",
        )
    _versions_or_range(r)
    kwargs: dict[str, Any] = {
        key: r.get(key)
        for key in TARGET_KEYS
        if key in table
        and key not in {"lock", "concurrent", "backups", "external_migrations", "tombstone"}
        and key not in {"env", "crash", "daemon", "console_scripts", "database"}
    }
    kwargs.setdefault("name", Path(here).name)
    kwargs["env"] = _string_table(r, "env", source)
    kwargs["console_scripts"] = _string_table(r, "console_scripts", source)
    kwargs["lock"] = _lock(r)
    kwargs["backups"] = _backups(r, source)
    kwargs["external"] = _external(r, source)
    kwargs["tombstone"] = _tombstone(r, source)
    kwargs["daemon"] = _daemon(r, source)
    kwargs["crash"] = _crash(r)
    kwargs["database"] = _database(r)
    concurrent = r.sub("concurrent", CONCURRENT_KEYS)
    if concurrent is not None:
        start = concurrent.get("from")
        kwargs["concurrent_from"] = None if start == "oldest" else start
        kwargs["concurrent_n"] = concurrent.get("n", 4)
        kwargs["concurrent_rounds"] = concurrent.get("rounds", DEFAULT_ROUNDS)
        kwargs["concurrent_delays"] = concurrent.get("delays", "auto")
    try:
        return Target(source=source, here=here, **kwargs)
    except SpecError as exc:
        # The model names keys as target.X; a pyproject names them under tool.
        if prefix != "target":
            raise SpecError(source, prefix + exc.key[len("target") :], exc.expected) from None
        raise


def _versions_or_range(r: _Reader) -> None:
    """Named versions or an integer range: one of the two, whole."""
    if "versions" not in r.table:
        for key in ("oldest", "latest"):
            if key not in r.table:
                raise SpecError(
                    r.source,
                    r.key(key),
                    'missing; expected an integer (or name the versions: versions = ["v1", ...])',
                )
        return
    for key in ("oldest", "latest"):
        if key in r.table:
            raise SpecError(
                r.source,
                r.key(key),
                f"got {short_repr(r.table[key])} next to `versions`; expected either"
                " `versions` (named) or `oldest` and `latest` (integers), not both",
            )


def _string_table(r: _Reader, name: str, source: str) -> dict[str, str]:
    table = r.table.get(name, {})
    for key, value in table.items():
        if not isinstance(value, str):
            raise SpecError(
                source, r.key(f"{name}.{key}"), f"expected a string, got {short_repr(value)}"
            )
    return dict(table)


def _lock(r: _Reader) -> LockSpec | None:
    lock = r.sub("lock", LOCK_KEYS)
    if lock is None:
        return None
    style = lock.require("style")
    return LockSpec(
        style=style,
        path=lock.get("path"),
        hold=lock.get("hold"),
        ready=lock.get("ready"),
        release=lock.get("release"),
        key=lock.get("key"),
        table=lock.get("table"),
        name=lock.get("name"),
    )


def _backups(r: _Reader, source: str) -> tuple[BackupSpec, ...]:
    out = []
    for i, item in enumerate(r.table.get("backups", [])):
        key = r.key(f"backups[{i}]")
        if isinstance(item, str):
            out.append(BackupSpec(at=item, of=_original_of(item, source, key)))
        elif isinstance(item, dict):
            b = _Reader(item, key, source, BACKUP_KEYS)
            out.append(BackupSpec(at=b.require("at"), of=b.require("of")))
        else:
            raise SpecError(
                source, key, f"expected a path or an {{at, of}} table, got {short_repr(item)}"
            )
    return tuple(out)


def _original_of(backup: str, source: str, key: str) -> str:
    """``{repo}/config.{from}-to-{to}.bak`` backs up ``{repo}/config``: cut at ``.{from}``."""
    cut = backup.find(".{from}")
    if cut <= 0:
        raise SpecError(
            source,
            key,
            f"cannot tell which file {backup!r} backs up; write it as a table "
            '{ at = "<backup path>", of = "<original path>" }',
        )
    return backup[:cut]


def _external(r: _Reader, source: str) -> ExternalSpec | None:
    value = r.table.get("external_migrations")
    if value is None:
        return None
    if isinstance(value, dict):
        value = _Reader(value, r.key("external_migrations"), source, EXTERNAL_KEYS).require("name")
    return ExternalSpec(name=value)


def _tombstone(r: _Reader, source: str) -> TombstoneSpec | None:
    t = r.sub("tombstone", TOMBSTONE_KEYS)
    if t is None:
        return None
    extra = {"message": t.get("message")} if "message" in t.table else {}
    return TombstoneSpec(
        old=t.require("old"), open_old=t.require("open_old"), new=t.get("new"), **extra
    )


def _daemon(r: _Reader, source: str) -> DaemonSpec | None:
    d = r.sub("daemon", DAEMON_KEYS)
    if d is None:
        return None
    return DaemonSpec(
        start=d.require("start"),
        ready=d.get("ready"),
        stop=d.get("stop"),
        migrates_on_start=d.get("migrates_on_start", False),
        start_timeout_s=d.get("start_timeout_s", 30.0),
    )


def _database(r: _Reader) -> DatabaseSpec | None:
    d = r.sub("database", DATABASE_KEYS)
    if d is None:
        return None
    return DatabaseSpec(engine=d.require("engine"), bindir=d.get("bindir"))


def _crash(r: _Reader) -> CrashSpec:
    c = r.sub("crash", CRASH_KEYS)
    if c is None:
        return CrashSpec()
    return CrashSpec(**{k: c.get(k) for k in c.table})


def _no_unknown(table: Mapping[str, Any], known: set[str], prefix: str, source: str) -> None:
    for key in table:
        if key not in known:
            full = f"{prefix}.{key}" if prefix else key
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            expected = ", ".join(sorted(known))
            raise SpecError(source, full, f"unknown key; {hint}expected one of: {expected}")
