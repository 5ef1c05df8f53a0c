"""The versions this refrepo knows, and the ``version`` file that says which one a repo is at.

Apart from ``layout`` because ``version``, the command a harness runs most, needs
only this: the module imports neither pathlib nor re, which cost more to import
than the rest of the command.
"""

from __future__ import annotations

import os

from migration_harness.reference.errors import RefError

OLDEST = 1
LATEST = 4

VERSION_FILE = "version"
_MAX_DIGITS = 9


def read_version(root: str | os.PathLike[str]) -> int:
    """The version of the repo at ``root``; a clear error if the file is missing or not an
    integer."""
    try:
        with open(os.path.join(root, VERSION_FILE), "rb") as file:
            raw = file.read()
    except FileNotFoundError:
        raise RefError(f"not a refrepo repo: {_shown(root)} does not exist") from None
    except OSError as exc:
        exc.filename = _shown(root)
        raise
    text = raw.decode("utf-8", "replace").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS):
        raise RefError(
            f"corrupt version file {_shown(root)}: expected an integer, found {text[:40]!r}"
        )
    return int(text)


def _shown(root: str | os.PathLike[str]) -> str:
    # Messages name the file as pathlib prints it (``./repo/`` as ``repo/version``), as
    # every other refrepo message does; pathlib is imported here, on the way to an error.
    from pathlib import Path

    return str(Path(root, VERSION_FILE))


def version_bytes(version: int) -> bytes:
    return f"{version}\n".encode()


def ahead_message(version: int) -> str:
    return f"repo version {version} is newer than this refrepo supports ({LATEST})"
