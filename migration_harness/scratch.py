"""The harness's own deletes and writes, confined to one scratch directory.

The tool under test runs between the harness's steps and may leave anything in its
repo, a symlink to the user's home included. Every path the harness itself removes,
writes or copies into goes through :class:`Scratch`, which resolves symlinks at the
moment of use and refuses a path that lands outside the directory, or on the
directory itself. A symlink inside that points inside is removed as a link, never
followed; one that points outside is refused, so the harness cannot be turned against
the user's files.

The check runs right before each act, while none of the tool's commands is running
(every command has exited by then), so a tool cannot swap a path between check and act;
a background process it left behind is the orphan rules' business.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from migration_harness._platform import StrPath
from migration_harness.errors import MigrationHarnessError
from migration_harness.files import atomic_write, companions, copy_repo

__all__ = ["OutsideScratch", "Scratch"]


class OutsideScratch(MigrationHarnessError):
    """A path the harness was about to change resolves outside its scratch directory."""

    def __init__(self, doing: str, path: Path, resolved: Path, root: Path) -> None:
        super().__init__(
            f"refused to {doing} {path}: it resolves to {resolved}, outside the scratch"
            f" directory {root}; nothing was changed there (did the tool replace a path in"
            " its repo with a symlink?)"
        )
        self.path, self.resolved, self.root = path, resolved, root


class Scratch:
    """A directory the harness owns; :meth:`remove`, :meth:`remove_repo`,
    :meth:`write_text`, :meth:`copy_tree` and :meth:`make_dirs` act only strictly inside
    it."""

    def __init__(self, root: StrPath) -> None:
        # Resolved once, now: if the root is later swapped for a symlink, every path under
        # it resolves elsewhere and is refused.
        self.root = Path(os.path.realpath(root))

    def entry(self, path: StrPath, doing: str, *, root_ok: bool = False) -> Path:
        """The directory entry ``path`` names, its parents' symlinks resolved as they are
        now; raises :class:`OutsideScratch` unless the entry, and where it points if it is
        a symlink, are strictly inside the root (or are the root, with ``root_ok``)."""
        given = Path(os.path.abspath(path))
        entry = Path(os.path.realpath(given.parent)) / given.name
        for candidate in (entry, Path(os.path.realpath(entry))):
            inside = candidate.is_relative_to(self.root)
            if not inside or (candidate == self.root and not root_ok):
                raise OutsideScratch(doing, given, candidate, self.root)
        return entry

    def remove(self, path: StrPath, doing: str = "remove") -> None:
        """Delete a file, a symlink (the link, not its target) or a whole directory tree;
        a missing path is fine."""
        entry = self.entry(path, doing)
        if entry.is_dir() and not entry.is_symlink():
            # rmtree never follows a symlink inside the tree (it unlinks the link).
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)

    def remove_repo(self, path: StrPath, doing: str = "remove the repo at") -> None:
        """Delete a repo: a directory tree, or a single file with its companions (a
        SQLite journal left beside a fresh copy would be rolled back into it)."""
        entry = self.entry(path, doing)
        if not entry.is_dir() or entry.is_symlink():
            for companion in companions(entry):
                self.remove(companion, doing)
        self.remove(entry, doing)

    def write_text(self, path: StrPath, text: str, doing: str = "write") -> None:
        """Replace ``path`` with ``text`` atomically (the entry is replaced, never written
        through)."""
        atomic_write(self.entry(path, doing), text)

    def copy_tree(self, source: StrPath, path: StrPath, doing: str = "copy a repo to") -> None:
        """Put a copy of the repo ``source`` (a directory, or a single file with its
        companions) at ``path``, replacing the repo there; symlinks stay symlinks."""
        self.remove_repo(path, doing)
        copy_repo(source, self.entry(path, doing))

    def make_dirs(self, path: StrPath, doing: str = "create") -> None:
        """Create ``path`` and its missing parents (the root itself is fine: nothing to do)."""
        self.entry(path, doing, root_ok=True).mkdir(parents=True, exist_ok=True)
