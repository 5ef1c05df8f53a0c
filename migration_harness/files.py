"""Atomic files and backups: a reference ``atomic_write`` and checks usable on any tool.

A migration that rewrites a config must never leave a half-written file: the
safe recipe is a temp file in the same directory (so the rename stays on one
file system), fsync of the file, ``os.replace`` onto the target, then fsync of
the directory so the rename itself survives a power cut. The checks here look
at what a tool left on disk: temp litter, exact bytes, a backup equal to the
original, a whole tree unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from migration_harness._platform import StrPath

__all__ = [
    "SQLITE_LEFTOVERS",
    "TEMP_PATTERNS",
    "AtomicWriter",
    "FileState",
    "TreeSnapshot",
    "assert_backup_equals",
    "assert_file_bytes",
    "assert_no_litter",
    "assert_tree_unchanged",
    "atomic_write",
    "companions",
    "copy_repo",
    "find_litter",
    "restore_backup",
    "snapshot_tree",
    "tree_fingerprint",
]


#: Names that temp files and editor/partial-download leftovers usually have.
#: Matched (fnmatch, case-sensitive) against each file's *name*, not its path.
TEMP_PATTERNS: tuple[str, ...] = (
    "*.tmp",
    "*.temp",
    ".*.tmp",
    "*.tmp.*",
    "*.tmp-*",
    "tmp*",
    ".tmp*",
    "*~",
    ".#*",
    "*.swp",
    "*.swo",
    "*.partial",
    "*.part",
    "*.new",
    "*.bak.tmp",
    "*.lock.tmp",
    ".~lock.*",
)

#: What SQLite keeps beside a database while a transaction or a connection is open. Once
#: the last connection has closed none remains (in its default journal modes), so one
#: left behind by a tool that exited is litter.
SQLITE_LEFTOVERS: tuple[str, ...] = ("*-journal", "*-wal", "*-shm")

# A single-file repo (a SQLite database) is the file plus its companions: every
# non-directory beside it whose name is the file's name followed by this separator and
# more. That covers SQLite's -journal, -wal, -shm and -mjXXXX (super-journal) files.
COMPANION_SEPARATOR = "-"

_TEMP_PREFIX = ".atomic-"
_TEMP_SUFFIX = ".tmp"


def _fsync_directory(directory: Path) -> None:
    # A rename is durable only once the directory entry is flushed. Windows
    # cannot open a directory as a file (and NTFS journals the rename), so the
    # step is POSIX-only, as in the recipe every careful tool follows.
    if sys.platform != "win32":
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _target_mode(path: Path, mode: int | None) -> int | None:
    if mode is not None:
        return mode
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


class AtomicWriter:
    """Write a file atomically: readers see either the old bytes or the new ones.

    Use it as a context manager; on a clean exit the temp file is fsynced and
    renamed onto ``path``; on an exception, or after :meth:`abort`, the temp
    file is removed and ``path`` is left exactly as it was.

    ``mode``: permission bits for the new file; by default an existing
    target's mode is kept, and a new file gets the umask default.
    """

    def __init__(self, path: StrPath, *, mode: int | None = None) -> None:
        self.path = Path(path)
        self._mode = mode
        self._fd: int | None = None
        self._temp: Path | None = None
        self._done = False

    @property
    def temp_path(self) -> Path | None:
        """The temp file being written (``None`` before ``__enter__`` and after the end)."""
        return self._temp

    def __enter__(self) -> AtomicWriter:
        directory = self.path.parent
        fd, name = tempfile.mkstemp(
            prefix=f"{_TEMP_PREFIX}{self.path.name}.", suffix=_TEMP_SUFFIX, dir=directory
        )
        self._fd, self._temp = fd, Path(name)
        return self

    def write(self, data: bytes | str) -> None:
        """Append ``data`` (str is encoded as UTF-8) to the temp file."""
        if self._fd is None:
            raise RuntimeError(f"AtomicWriter for {self.path} is not open (use it in a with block)")
        raw = data.encode("utf-8") if isinstance(data, str) else data
        view = memoryview(raw)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def abort(self) -> None:
        """Drop the temp file; the target stays untouched. Safe to call twice."""
        self._close()
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
        self._temp = None
        self._done = True

    def commit(self) -> None:
        """fsync the temp file, give it its mode, replace the target, fsync the directory."""
        if self._done:
            return
        if self._fd is None or self._temp is None:
            raise RuntimeError(f"AtomicWriter for {self.path} is not open (use it in a with block)")
        try:
            os.fsync(self._fd)
            self._close()
            mode = _target_mode(self.path, self._mode)
            if mode is not None:
                os.chmod(self._temp, mode)
            os.replace(self._temp, self.path)
        except BaseException:
            self.abort()
            raise
        self._temp = None
        self._done = True
        _fsync_directory(self.path.parent)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def atomic_write(path: StrPath, data: bytes | str, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, ``os.replace``, dir fsync).

    The existing file's mode is kept unless ``mode`` is given.
    """
    with AtomicWriter(path, mode=mode) as writer:
        writer.write(data)


# --- single-file repos -----------------------------------------------------------------


def companions(path: StrPath) -> list[Path]:
    """The files beside the single file ``path`` that belong to it, sorted: every
    non-directory whose name is ``path``'s name followed by ``-`` and more (SQLite's
    ``-journal``, ``-wal`` and ``-shm``). ``path`` itself need not exist any more."""
    base = Path(path)
    prefix = base.name + COMPANION_SEPARATOR
    try:
        names = sorted(os.listdir(base.parent))
    except (FileNotFoundError, NotADirectoryError):
        return []
    siblings = (base.parent / name for name in names if name.startswith(prefix))
    return [p for p in siblings if p.is_symlink() or not p.is_dir()]


def in_repo(path: str, repo: str, *, single_file: bool) -> bool:
    """True when the absolute ``path`` is part of the repo at ``repo``: the repo itself,
    anything under it (a directory repo), or one of its companions (a single-file repo)."""
    if path == repo:
        return True
    if not single_file:
        return path.startswith(repo + os.sep)
    return path.startswith(repo + COMPANION_SEPARATOR) and os.sep not in path[len(repo) :]


def copy_repo(source: StrPath, dest: StrPath) -> None:
    """Copy a repo to ``dest``, which must not exist (its missing parents are made): a
    directory with its whole tree (symlinks stay symlinks), a single file with its
    :func:`companions`, renamed after ``dest`` (``db-journal`` beside ``db`` becomes
    ``copy-journal`` beside ``copy``)."""
    src, target = Path(source), Path(dest)
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, target, symlinks=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)  # as copytree does for a directory
    shutil.copy2(src, target, follow_symlinks=False)
    for companion in companions(src):
        suffix = companion.name[len(src.name) :]
        shutil.copy2(companion, target.with_name(target.name + suffix), follow_symlinks=False)


# --- snapshots -------------------------------------------------------------------------


@dataclass(frozen=True)
class FileState:
    """What a snapshot records of one file: content hash, size and permission bits."""

    sha256: str
    size: int
    mode: int


def _matches_any(rel: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, pattern) for pattern in patterns)


def _walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    # os.walk sorts nothing; sorted output keeps diffs stable across OSes.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath, name)
            yield full.relative_to(root).as_posix(), full


@dataclass
class TreeSnapshot:
    """The files under ``root`` at one moment: states plus their bytes (kept in memory)."""

    root: Path
    files: dict[str, FileState]
    _data: dict[str, bytes] = field(default_factory=dict, repr=False)

    def data(self, rel: str) -> bytes:
        """The recorded bytes of ``rel`` (a POSIX-style path relative to ``root``)."""
        try:
            return self._data[rel]
        except KeyError:
            known = ", ".join(sorted(self.files)) or "no files"
            raise KeyError(f"{rel!r} is not in the snapshot of {self.root} ({known})") from None

    def diff(self, other: TreeSnapshot) -> str:
        """What changed from ``self`` to ``other``: "" when equal, else one line per file."""
        lines: list[str] = []
        for rel in sorted(set(self.files) | set(other.files)):
            before, after = self.files.get(rel), other.files.get(rel)
            if before == after:
                continue
            if before is None:
                lines.append(f"added:   {rel} ({after.size if after else 0} bytes)")
            elif after is None:
                lines.append(f"removed: {rel} ({before.size} bytes)")
            else:
                lines.append(f"changed: {rel} ({_describe_change(before, after)})")
        return "\n".join(lines)

    def restore(self, root: StrPath | None = None) -> None:
        """Write the recorded files back under ``root`` (default: the snapshot's root).

        Files the snapshot does not know are left alone; use it to put a tree
        back after a destructive step, then check with :func:`assert_tree_unchanged`.
        """
        target = Path(root) if root is not None else self.root
        for rel, state in self.files.items():
            path = target.joinpath(*rel.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, self._data[rel], mode=state.mode)


def _describe_change(before: FileState, after: FileState) -> str:
    parts = []
    if before.sha256 != after.sha256:
        parts.append(f"content {before.size} -> {after.size} bytes")
    if before.mode != after.mode:
        parts.append(f"mode {before.mode:o} -> {after.mode:o}")
    return ", ".join(parts)


def snapshot_tree(root: StrPath, *, ignore: Sequence[str] = ()) -> TreeSnapshot:
    """Record every file under ``root`` (bytes, sha256, mode).

    ``ignore``: fnmatch globs on the POSIX-style path relative to ``root``,
    e.g. ``"*.log"``, ``"repo.lock"``, ``"logs/*"``. A single file as ``root``
    is recorded under its own name, with its :func:`companions` under theirs
    (a SQLite database is not whole without its ``-journal`` or ``-wal``).
    """
    base = Path(root)
    if base.is_file():
        entries: Iterator[tuple[str, Path]] = iter(
            [(path.name, path) for path in (base, *companions(base))]
        )
        base = base.parent
    elif base.is_dir():
        entries = _walk_files(base)
    else:
        # errno and filename set, so that a repo the tool removed reads as the tool's fault
        raise FileNotFoundError(errno.ENOENT, "no such file or directory to snapshot", str(base))
    files: dict[str, FileState] = {}
    data: dict[str, bytes] = {}
    for rel, full in entries:
        if _matches_any(rel, ignore):
            continue
        raw = full.read_bytes()
        mode = stat.S_IMODE(full.stat().st_mode)
        files[rel] = FileState(hashlib.sha256(raw).hexdigest(), len(raw), mode)
        data[rel] = raw
    return TreeSnapshot(base, files, data)


#: Trees with more bytes than this get no fingerprint: hashing them would cost about as
#: much as the tool commands a fingerprint lets a check skip.
FINGERPRINT_MAX_BYTES = 64 * 1024 * 1024


def tree_fingerprint(root: StrPath, *, max_bytes: int = FINGERPRINT_MAX_BYTES) -> str | None:
    """A digest of everything a read of the repo at ``root`` can see: each entry's name
    relative to ``root``, its type, its permission bits and its bytes (a symlink: its
    target). A single file counts with its :func:`companions`. Equal trees at different
    places get the same fingerprint; modification times do not count.

    None when the tree holds more than ``max_bytes``, or is missing or unreadable.
    """
    base = Path(root)
    digest = hashlib.sha256()
    budget = max_bytes
    try:
        for rel, path in _fingerprint_entries(base):
            info = path.lstat()
            kind = "l" if stat.S_ISLNK(info.st_mode) else "d" if stat.S_ISDIR(info.st_mode) else "f"
            digest.update(f"{kind} {rel} {stat.S_IMODE(info.st_mode):o}\0".encode())
            if kind == "l":
                digest.update(os.fsencode(os.readlink(path)) + b"\0")
            elif kind == "f":
                budget -= info.st_size
                if budget < 0:
                    return None
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    except OSError:
        return None
    return digest.hexdigest()


def _fingerprint_entries(base: Path) -> Iterator[tuple[str, Path]]:
    if base.is_symlink() or not base.is_dir():
        for path in (base, *companions(base)):
            yield path.name[len(base.name) :] or ".", path
        return
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames.sort()
        folder = Path(dirpath)
        for name in sorted([*dirnames, *filenames]):
            yield (folder / name).relative_to(base).as_posix(), folder / name


# --- assertions ------------------------------------------------------------------------


def assert_tree_unchanged(
    before: TreeSnapshot, root: StrPath | None = None, *, ignore: Sequence[str] = ()
) -> None:
    """Fail, listing every added/removed/changed file, unless ``root`` still equals ``before``.

    ``ignore`` applies to both sides, so a snapshot taken without it still compares.
    """
    target = Path(root) if root is not None else before.root
    after = snapshot_tree(target, ignore=ignore)
    kept = {rel: st for rel, st in before.files.items() if not _matches_any(rel, ignore)}
    difference = TreeSnapshot(before.root, kept).diff(after)
    if difference:
        raise AssertionError(f"{target} changed:\n{difference}")


def find_litter(
    root: StrPath, patterns: Sequence[str] = TEMP_PATTERNS, *, ignore: Sequence[str] = ()
) -> list[str]:
    """Relative POSIX paths under ``root`` whose name matches one of ``patterns``.

    A single file as ``root`` (a single-file repo) has nothing under it: the names
    beside it are looked at instead, as they are (``db-journal``, ``db.tmp``), not below.
    """
    base = Path(root)
    if base.is_file():
        beside = sorted(os.listdir(base.parent))
        return [
            name
            for name in beside
            if name != base.name and _matches_any(name, patterns) and not _matches_any(name, ignore)
        ]
    found = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            rel = Path(dirpath, name).relative_to(base).as_posix()
            if _matches_any(name, patterns) and not _matches_any(rel, ignore):
                found.append(rel)
    return found


def assert_no_litter(
    root: StrPath, patterns: Sequence[str] = TEMP_PATTERNS, ignore: Sequence[str] = ()
) -> None:
    """Fail if any file or directory under ``root`` looks like a leftover temp file.

    ``patterns`` match names (see :data:`TEMP_PATTERNS`); ``ignore`` holds
    globs on relative paths that are allowed anyway (e.g. a tool's own ``tmp/`` dir).
    """
    litter = find_litter(root, patterns, ignore=ignore)
    if litter:
        listing = "\n".join(f"  {rel}" for rel in litter)
        raise AssertionError(
            f"temp files left under {root} (patterns: {', '.join(patterns)}):\n{listing}"
        )


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def _first_difference(actual: bytes, expected: bytes) -> str:
    for index, (a, e) in enumerate(zip(actual, expected, strict=False)):
        if a != e:
            return (
                f"first difference at byte {index}: "
                f"got {actual[index : index + 24]!r}, expected {expected[index : index + 24]!r}"
            )
    return f"lengths differ: got {len(actual)} bytes, expected {len(expected)}"


def assert_file_bytes(path: StrPath, expected: bytes | str, *, mode: int | None = None) -> None:
    """Fail unless ``path`` holds exactly ``expected`` (str: UTF-8) and, if given, ``mode``."""
    target = Path(path)
    if not target.is_file():
        raise AssertionError(f"{target} does not exist (expected {len(_as_bytes(expected))} bytes)")
    actual, wanted = target.read_bytes(), _as_bytes(expected)
    if actual != wanted:
        raise AssertionError(f"{target} has other bytes: {_first_difference(actual, wanted)}")
    if mode is not None:
        got = stat.S_IMODE(target.stat().st_mode)
        if got != mode:
            raise AssertionError(f"{target} has mode {got:o}, expected {mode:o}")


def assert_backup_equals(backup_path: StrPath, original: bytes | str | TreeSnapshot) -> None:
    """Fail unless the backup exists and equals the original.

    ``original``: the bytes of the file before the migration, or a
    :class:`TreeSnapshot` of a directory (the backup must then be a directory
    with the same files and bytes; modes are not compared, since copies often
    drop them).
    """
    backup = Path(backup_path)
    if not backup.exists():
        siblings = ", ".join(sorted(p.name for p in backup.parent.iterdir())) or "nothing"
        raise AssertionError(f"backup {backup} is missing; {backup.parent} holds: {siblings}")
    if not isinstance(original, TreeSnapshot):
        assert_file_bytes(backup, original)
        return
    copy = snapshot_tree(backup)
    expected = {rel: st.sha256 for rel, st in original.files.items()}
    got = {rel: st.sha256 for rel, st in copy.files.items()}
    if expected != got:
        stripped = TreeSnapshot(original.root, {r: FileState(h, 0, 0) for r, h in expected.items()})
        found = TreeSnapshot(backup, {r: FileState(h, 0, 0) for r, h in got.items()})
        raise AssertionError(f"backup {backup} differs from the original:\n{stripped.diff(found)}")


def restore_backup(backup_path: StrPath, target: StrPath) -> None:
    """Put a single-file backup back in place atomically, keeping the backup."""
    atomic_write(target, Path(backup_path).read_bytes())
