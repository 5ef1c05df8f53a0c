"""Finding a server's programs, and running them as an unprivileged user under root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from migration_harness.databases._api import DatabaseUnavailable


def find_programs(
    names: tuple[str, ...],
    dirs: list[str],
    hint: str,
    *,
    search_path: bool = True,
    together: bool = True,
) -> dict[str, str]:
    """Each of ``names`` from the first directory of ``dirs`` that has them all, else
    from PATH (``search_path``); :class:`DatabaseUnavailable` naming what is missing
    and ``hint``. ``together=False``: each from the first of ``dirs`` (then PATH) that
    has it, for programs a package spreads over several directories (sbin and bin)."""
    from migration_harness.proc import which

    for directory in dirs:
        found = {name: which(name, directory) for name in names}
        if all(found.values()):
            return {name: path for name, path in found.items() if path is not None}
    path = os.environ.get("PATH", "") if search_path else ""
    if not together:
        path = os.pathsep.join([*dirs, path])
    found = {name: which(name, path) for name in names}
    missing = [name for name, where in found.items() if where is None]
    if missing:
        searched = ", ".join([*dirs, "PATH"] if search_path else dirs)
        raise DatabaseUnavailable(f"{', '.join(missing)} not found (searched {searched}); {hint}")
    return {name: where for name, where in found.items() if where is not None}


def run_as(account: str, why: str, hint: str) -> list[str]:
    """The command prefix that runs a program as ``account`` when this process is root
    (``runuser``); ``[]`` otherwise."""
    if sys.platform == "win32" or os.geteuid() != 0:
        return []
    import pwd

    try:
        pwd.getpwnam(account)
    except KeyError:
        raise DatabaseUnavailable(
            f"{why}, and this process runs as root with no {account!r} user to run it as;"
            f" create one (`useradd --system {account}`) or {hint}"
        ) from None
    from migration_harness.proc import which

    runuser = which("runuser", os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin")
    if runuser is None:
        raise DatabaseUnavailable(f"{why}, and runuser (util-linux) is not installed")
    return [runuser, "-u", account, "--"]


def give_to(account: str, directory: Path) -> None:
    """Make the server's own new directory ``account``'s, so the server can write it."""
    import pwd

    entry = pwd.getpwnam(account)
    os.chown(directory, entry.pw_uid, entry.pw_gid)
