"""Finding an executable on a given PATH (never the process's own), as Windows would.

The one place the harness looks commands up: ``proc.run`` resolves ``args[0]`` with it
before the process starts (CreateProcess searches the *parent's* PATH, not the
child's ``env``), and :mod:`migration_harness.env` re-exports it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from migration_harness._platform import IS_WINDOWS
from migration_harness.errors import MigrationHarnessError

#: What Windows uses when PATHEXT is unset.
DEFAULT_PATHEXT = ".COM;.EXE;.BAT;.CMD"


class ExecutableNotFound(MigrationHarnessError, FileNotFoundError):
    """An executable was not found on the PATH that was searched."""

    def __init__(self, name: str, path: str | None) -> None:
        self.name = name
        self.path = path
        shown = path if path else "(empty)"
        super().__init__(f"executable {name!r} not found on PATH {shown}")


def which(name: str, path: str | None, *, pathext: str | None = None) -> str | None:
    """Find ``name`` on ``path`` only, never on the process's own PATH.

    ``path`` is an ``os.pathsep``-separated list; ``None`` or ``""`` finds
    nothing. On Windows (or whenever ``pathext`` is given) the extensions of
    ``pathext`` (default: ``.COM;.EXE;.BAT;.CMD``) are tried, after the name as
    written if it already ends in one of them. A name with a directory part is
    not searched: it is returned if it exists.

    Written by hand because ``shutil.which`` reads PATHEXT from ``os.environ``
    and, on Windows, searches the current directory first.
    """
    exts = _extensions(name, pathext)
    if os.sep in name or (os.altsep is not None and os.altsep in name):
        return _first_existing(name, exts)
    for directory in (path or "").split(os.pathsep):
        if not directory:
            continue
        found = _first_existing(os.path.join(directory, name), exts)
        if found is not None:
            return found
    return None


def _extensions(name: str, pathext: str | None) -> list[str]:
    """The suffixes to try after ``name``: ``[""]`` on POSIX."""
    if pathext is None and not IS_WINDOWS:
        return [""]
    exts = [e for e in (pathext or DEFAULT_PATHEXT).split(";") if e]  # ";" on every OS
    if any(name.lower().endswith(e.lower()) for e in exts):
        return ["", *exts]
    return exts


def _first_existing(base: str, exts: Sequence[str]) -> str | None:
    for ext in exts:
        candidate = base + ext
        if _is_executable_file(candidate):
            return candidate
    return None


def _is_executable_file(candidate: str) -> bool:
    if not os.path.isfile(candidate):
        return False
    # Windows has no run bit; PATHEXT decides what runs.
    return IS_WINDOWS or os.access(candidate, os.X_OK)
