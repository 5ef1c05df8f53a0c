"""The style table: which styles exist, which this OS supports, and how to take each."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from migration_harness.errors import MigrationHarnessError
from migration_harness.locks._base import Held

#: Every lock style a holder can use (see the table in docs/locks.md).
STYLES: tuple[str, ...] = (
    "posix",
    "flock",
    "windows",
    "exclusive-open",
    "mkdir",
    "pidfile",
    "sqlite",
    "filelock",
    "go-lockedfile",
    "command",
)

_POSIX_ONLY = {
    "posix": "fcntl record locks do not exist on Windows (use 'windows' or 'filelock')",
    "flock": "flock() does not exist on Windows (use 'windows' or 'filelock')",
}
_WINDOWS_ONLY = {
    "windows": "msvcrt/LockFileEx exists only on Windows (use 'posix' or 'flock' here)",
    "exclusive-open": (
        "POSIX has no share modes: any process can open a file another holds open, "
        "so an exclusive-open lock cannot exist here"
    ),
}


class UnsupportedLockStyle(MigrationHarnessError):
    """The style cannot exist on this OS (or is unknown); ``reason`` says why."""

    def __init__(self, style: str, reason: str) -> None:
        super().__init__(f"lock style {style!r} is not available on {sys.platform}: {reason}")
        self.style = style
        self.reason = reason


def unsupported_reason(style: str) -> str | None:
    """Why ``style`` cannot be held on this OS, or ``None`` when it can."""
    if style not in STYLES:
        return f"unknown lock style {style!r}; expected one of: {', '.join(STYLES)}"
    if style == "sqlite":
        try:
            import sqlite3  # noqa: F401
        except ImportError:
            return "this Python was built without the sqlite3 module"
    if sys.platform == "win32":
        return _POSIX_ONLY.get(style)
    else:
        return _WINDOWS_ONLY.get(style)


def check_supported(style: str) -> None:
    """Raise :class:`UnsupportedLockStyle` unless ``style`` can be held here."""
    reason = unsupported_reason(style)
    if reason is not None:
        raise UnsupportedLockStyle(style, reason)


# Go's lockedfile (cmd/go/internal/lockedfile, and the many tools that vendor it) takes
# flock() where the OS has it, fcntl record locks on AIX and Solaris, LockFileEx on Windows:
# "go-lockedfile" is that choice, so a Go tool's spec reads the same on every OS.
_FCNTL_FOR_GO = ("aix", "sunos")


def _platform_mechanisms() -> dict[str, Callable[[Path], Held]]:
    if sys.platform == "win32":
        from migration_harness.locks import _windows

        return {
            "windows": _windows.MsvcrtLock,
            "exclusive-open": _windows.ExclusiveOpen,
            "go-lockedfile": _windows.MsvcrtLock,
        }
    else:
        from migration_harness.locks import _posix

        go = _posix.FcntlLock if sys.platform.startswith(_FCNTL_FOR_GO) else _posix.Flock
        return {"posix": _posix.FcntlLock, "flock": _posix.Flock, "go-lockedfile": go}


def acquire(style: str, path: Path) -> Held:
    """Take ``style`` on ``path`` once, without waiting; raises ``LockBusy`` when taken."""
    check_supported(style)
    if style == "command":
        raise UnsupportedLockStyle(style, "a command lock is held by the target's own command")
    from migration_harness.locks import _portable

    mechanisms: dict[str, Callable[[Path], Held]] = {
        "mkdir": _portable.MkdirLock,
        "pidfile": _portable.PidFileLock,
        "sqlite": _portable.SqliteLock,
        "filelock": _portable.FileLockLibrary,
        **_platform_mechanisms(),
    }
    return mechanisms[style](path)
