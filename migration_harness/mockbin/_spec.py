"""Validation of a mock's name and behaviour, before anything is written."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from migration_harness.errors import MigrationHarnessError
from migration_harness.names import is_reserved

__all__ = ["BEHAVIOUR_KEYS", "LOCK_ACTIONS", "MockSpecError", "validate_behaviour", "validate_name"]


class MockSpecError(MigrationHarnessError, ValueError):
    """A mock's name or behaviour is invalid; the message names the key and what was expected."""


LOCK_ACTIONS = ("hold", "create", "remove")
#: How a mock locks: "exists" (the file's existence, O_EXCL; removed on exit) or a kernel
#: lock on the file, named as the harness's lock styles name them.
MOCK_LOCK_STYLES = ("exists", "flock", "posix", "windows", "go-lockedfile")
_KERNEL_STYLES_HERE = (
    ("windows", "go-lockedfile") if sys.platform == "win32" else ("flock", "posix", "go-lockedfile")
)


def _kernel_style_unavailable(style: object) -> str | None:
    if style not in MOCK_LOCK_STYLES:
        return f"expected one of {list(MOCK_LOCK_STYLES)}, got {style!r}"
    if style not in _KERNEL_STYLES_HERE:
        return f"{style!r} locks do not exist on {sys.platform}; use 'go-lockedfile' on any OS"
    return None


# Portable and unambiguous on every OS and in distlib's script specifications.
_NAME = re.compile(r"[\w][\w.+-]*", re.UNICODE)
_MAX_NAME = 64
_MAX_EXIT = 255  # what survives a POSIX exit status
# With passthrough the real executable decides these.
_NOT_WITH_PASSTHROUGH = (
    "exit_code",
    "stdout",
    "stderr",
    "sleep",
    "write_files",
    "replace_files",
    "version_file",
    "lock_file",
    "crash",
    "on_flag",
)


def validate_name(name: object) -> str:
    """The mock's name: one file name, no directory part, no ``.exe``."""
    if not isinstance(name, str) or not name:
        raise MockSpecError(f"mock name must be a non-empty string, got {name!r}")
    if "/" in name or "\\" in name:
        raise MockSpecError(f"mock name {name!r} contains a path separator; give --dir separately")
    if name.lower().endswith(".exe"):
        raise MockSpecError(f"mock name {name!r}: leave out '.exe', it is added on Windows")
    if len(name) > _MAX_NAME or not _NAME.fullmatch(name) or name.endswith("."):
        raise MockSpecError(
            f"mock name {name!r} is not portable: use letters, digits and '._+-' "
            f"(starting with a letter or digit, at most {_MAX_NAME} characters)"
        )
    if is_reserved(name):
        raise MockSpecError(f"mock name {name!r} is a reserved device name on Windows")
    return name


def _expect(ok: bool, name: str, key: str, value: object, expected: str) -> None:
    if not ok:
        raise MockSpecError(f"mock {name!r}: {key}: expected {expected}, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _exit_code(name: str, key: str, value: Any) -> int:
    ok = _is_int(value) and 0 <= value <= _MAX_EXIT
    _expect(ok, name, key, value, f"an exit code from 0 to {_MAX_EXIT}")
    return int(value)


def _text(name: str, key: str, value: Any) -> str:
    _expect(isinstance(value, str), name, key, value, "a string")
    return str(value)


def _sleep(name: str, key: str, value: Any) -> float:
    ok = (_is_int(value) or isinstance(value, float)) and value >= 0
    _expect(ok, name, key, value, "a number of seconds >= 0")
    return float(value)


def _files(name: str, key: str, value: Any) -> dict[str, str]:
    ok = isinstance(value, Mapping) and all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    )
    _expect(ok, name, key, value, "a mapping of path to text content")
    return dict(value)


def _names(name: str, key: str, value: Any) -> list[str]:
    ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value)
    _expect(ok, name, key, value, "a list of non-empty strings")
    return list(value)


def _flag(name: str, key: str, value: Any) -> bool:
    _expect(isinstance(value, bool), name, key, value, "true or false")
    return bool(value)


def _crash(name: str, key: str, value: Any) -> bool | int:
    if isinstance(value, bool):
        return value
    return _exit_code(name, key, value)


def _version_file(name: str, key: str, value: Any) -> dict[str, str]:
    ok = (
        isinstance(value, Mapping)
        and set(value) == {"path", "value"}
        and isinstance(value["path"], str)
        and isinstance(value["value"], (str, int))
        and not isinstance(value["value"], bool)
    )
    _expect(ok, name, key, value, '{"path": "...", "value": "<version>"}')
    return {"path": value["path"], "value": str(value["value"])}


def _lock_file(name: str, key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value:
        return {"path": value, "action": "hold"}
    ok = (
        isinstance(value, Mapping)
        and isinstance(value.get("path"), str)
        and value.get("action", "hold") in LOCK_ACTIONS
        and set(value) <= {"path", "action", "style", "exists_exit_code"}
    )
    expected = (
        f'a path or {{"path": "...", "action": one of {list(LOCK_ACTIONS)},'
        f' "style": one of {list(MOCK_LOCK_STYLES)}}}'
    )
    _expect(ok, name, key, value, expected)
    lock: dict[str, Any] = {"path": value["path"], "action": value.get("action", "hold")}
    style = value.get("style", "exists")
    if style != "exists":
        reason = _kernel_style_unavailable(style)
        if reason is not None:
            raise MockSpecError(f"mock {name!r}: {key}.style: {reason}")
        lock["style"] = style
    if "exists_exit_code" in value:
        lock["exists_exit_code"] = _exit_code(
            name, f"{key}.exists_exit_code", value["exists_exit_code"]
        )
    return lock


def _on_flag(name: str, key: str, value: Any) -> dict[str, dict[str, Any]]:
    ok = isinstance(value, Mapping) and all(
        isinstance(k, str) and k.strip("-") and isinstance(v, Mapping) for k, v in value.items()
    )
    _expect(ok, name, key, value, 'a mapping of flag to behaviour, e.g. {"-revert": {...}}')
    result = {}
    for flag, override in value.items():
        if "on_flag" in override or "passthrough" in override:
            raise MockSpecError(
                f"mock {name!r}: {key}[{flag!r}]: cannot nest on_flag or passthrough"
            )
        result[flag] = validate_behaviour(name, override)
    return result


_Validator = Callable[[str, str, Any], Any]

#: Every behaviour key and its validator (see docs/fixtures.md, "Mock executables").
BEHAVIOUR_KEYS: dict[str, _Validator] = {
    "exit_code": _exit_code,
    "stdout": _text,
    "stderr": _text,
    "sleep": _sleep,
    "write_files": _files,
    "replace_files": _files,
    "version_file": _version_file,
    "lock_file": _lock_file,
    "require_flags": _names,
    "missing_flag_exit_code": _exit_code,
    "crash": _crash,
    "log_env": _names,
    "passthrough": _flag,
    "on_flag": _on_flag,
}


def validate_behaviour(name: str, behaviour: Mapping[str, Any] | None) -> dict[str, Any]:
    """A normalised copy of ``behaviour``; :class:`MockSpecError` names the first bad key."""
    if behaviour is None:
        return {}
    if not isinstance(behaviour, Mapping):
        raise MockSpecError(f"mock {name!r}: behaviour must be a mapping, got {behaviour!r}")
    result: dict[str, Any] = {}
    for key, value in behaviour.items():
        validator = BEHAVIOUR_KEYS.get(key)
        if validator is None:
            raise MockSpecError(_unknown_key(name, key))
        result[key] = validator(name, key, value)
    if result.get("passthrough"):
        clash = [k for k in _NOT_WITH_PASSTHROUGH if k in result]
        if clash:
            raise MockSpecError(
                f"mock {name!r}: passthrough runs the real executable, so it cannot be "
                f"combined with {', '.join(clash)}"
            )
    return result


def _unknown_key(name: str, key: object) -> str:
    close = difflib.get_close_matches(str(key), BEHAVIOUR_KEYS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    known = ", ".join(BEHAVIOUR_KEYS)
    return f"mock {name!r}: unknown behaviour key {key!r}{hint} (known keys: {known})"
