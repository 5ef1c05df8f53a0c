"""Durable file writes for the reference tool: temp file, fsync, replace, fsync the directory."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from migration_harness.reference.hooks import Checkpoints

# typing.TYPE_CHECKING without importing typing (see layout).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

TEMP_MARK = ".tmp-"


def temp_path_for(path: Path) -> Path:
    """The temp file next to ``path`` (same directory, so the replace is atomic)."""
    return path.with_name(f"{path.name}{TEMP_MARK}{os.getpid()}")


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (POSIX only: Windows cannot open a dir)."""
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_and_sync(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write(
    path: Path,
    data: bytes,
    hooks: Checkpoints,
    *,
    keep_open: bool = False,
    leave_temp: bool = False,
) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new bytes, never a mix.

    Two checkpoints: after the temp file is written and synced, after the replace.
    ``keep_open`` and ``leave_temp`` exist for the mutants only.
    """
    temp = temp_path_for(path)
    try:
        _write_and_sync(temp, data)
        hooks.hit(f"wrote {temp.name}")
        _replace(temp, path, keep_open=keep_open)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(path.parent)
    hooks.hit(f"replaced {path.name}")
    if leave_temp:
        import shutil  # here: only a mutant copies

        shutil.copyfile(path, temp)


def _replace(temp: Path, path: Path, *, keep_open: bool) -> None:
    handle: BinaryIO | None = None
    if keep_open and path.exists():
        # Mutant open-handle-rename: Windows refuses to replace a file that is open.
        handle = open(path, "rb")  # noqa: SIM115
    try:
        os.replace(temp, path)
    finally:
        if handle is not None:
            handle.close()


@contextlib.contextmanager
def open_truncated(path: Path, hooks: Checkpoints) -> Iterator[BinaryIO]:
    """Mutant inplace-config: open ``path`` for writing in place; it is empty until written."""
    with open(path, "wb") as handle:
        hooks.hit(f"truncated {path.name}")
        yield handle


def remove_file(path: Path) -> bool:
    """Remove ``path`` if present; True if it was there."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def remove_stale_temps(*directories: Path) -> None:
    """Delete temp files a crashed run left behind (call with the repo lock held)."""
    for directory in directories:
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            if TEMP_MARK in entry.name and entry.is_file():
                remove_file(entry)
