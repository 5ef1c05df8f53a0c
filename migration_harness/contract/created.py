"""Repos created once per run, then copied for each case that starts from them.

Most cases begin by creating a repo at some version, and the tool's ``create`` is often
the slowest command it has (a framework's start-up, every migration up to that version).
A run of ``check`` therefore creates each version once, in its scratch root, and each
case gets a copy at its own path.

A copy stands in for a fresh ``create`` only if the created repo is self-contained, which
is checked once per version: ``create`` left nothing in its scratch directory but the
repo, no file of the repo holds the repo's own absolute path (a config naming its
database file would point every copy back at the original), and no link in it has an
absolute target. Otherwise, or with
``create_once = false`` in the spec, every case runs ``create`` itself. The workers of a
parallel run share the repos; a file lock (filelock) lets one of them create each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migration_harness.files import COMPANION_SEPARATOR

if TYPE_CHECKING:
    from migration_harness.contract._tool import Tool

#: Where a run keeps its created repos, in the run's scratch root.
CREATED_DIR = "mh-created"
#: The most bytes read to look for the repo's own path; a bigger repo is created per case.
SCAN_LIMIT = 256 * 1024 * 1024
READY, REFUSED = "ready", "refused"


@dataclass(frozen=True)
class CreatedRepos:
    """The run's created repos, under ``root``."""

    root: Path

    def source(self, tool: Tool, version: int) -> Path | None:
        """A self-contained repo created at ``version`` (made now if this is the first
        ask in the run), or None when cases must run ``create`` themselves."""
        from filelock import FileLock

        place = self.root / f"v{version}"
        place.mkdir(parents=True, exist_ok=True)
        with FileLock(str(place / "lock")):
            verdict = _read(place / "verdict")
            if verdict is None:
                try:
                    verdict = _create(tool, version, place / "work")
                except BaseException:
                    # The case that asked first reports why; the others run create
                    # themselves (and report for themselves), never on a half-made repo.
                    (place / "verdict").write_text(f"{REFUSED}: create failed", encoding="utf-8")
                    raise
                (place / "verdict").write_text(verdict, encoding="utf-8")
        return place / "work" / "repo" if verdict == READY else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _create(tool: Tool, version: int, workdir: Path) -> str:
    """Create the repo in ``workdir`` with ``tool``'s commands; READY if copies of it
    may stand in for a fresh create, else why not."""
    from migration_harness.contract._tool import CONSOLE_SCRIPTS_DIR, Tool

    creator = Tool(tool.target, workdir, env=tool.env)
    creator.transcript = tool.transcript  # the case that asked shows the command it ran
    workdir.mkdir()
    repo = workdir / "repo"
    creator.run_create(repo, version)
    beside = [
        name
        for name in os.listdir(workdir)
        if name not in ("repo", CONSOLE_SCRIPTS_DIR)
        and not name.startswith("repo" + COMPANION_SEPARATOR)
    ]
    if beside:
        return f"{REFUSED}: create also wrote {', '.join(sorted(beside))} beside the repo"
    own = [str(repo), str(workdir)]
    if creator.databases is not None:  # a config naming the database would name it in copies
        own.append(creator.databases.of(repo).name)
    if _mentions(repo, own):
        return f"{REFUSED}: the repo holds its own path or database name"
    return READY


def _mentions(repo: Path, paths: list[str]) -> bool:
    """True if a file of ``repo`` holds one of ``paths`` (as UTF-8 or UTF-16), a link of
    it has an absolute target, or the repo is too big to tell."""
    needles = [p.encode(codec) for p in paths for codec in ("utf-8", "utf-16-le")]
    inside = [] if repo.is_file() else list(repo.rglob("*"))
    files = [repo] if repo.is_file() else [p for p in inside if p.is_symlink() or not p.is_dir()]
    files += [p for p in repo.parent.iterdir() if p.name.startswith(repo.name + "-")]
    read = 0
    for path in files:
        if path.is_symlink():
            # A copy of an absolute link points where the original did; the spelling of
            # its target varies (Windows prefixes), so any absolute target counts.
            if os.path.isabs(os.readlink(path)):
                return True
            continue
        data = path.read_bytes()
        read += len(data)
        if read > SCAN_LIMIT or any(needle in data for needle in needles):
            return True
    return False
