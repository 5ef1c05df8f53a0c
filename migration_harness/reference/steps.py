"""The data and config changes of each migration step, forward and back.

Every step is re-runnable: it accepts a repo already part-way (or all the way)
through it, which is how a run after a crash finishes the job. On failure a step
undoes what it changed and restores the config bytes it started from (the same
bytes the caller saved as the step's backup), then re-raises.

Steps change data and config only; the caller (``migrate``) writes the backup
before a step and the version file after it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from migration_harness.reference import fsutil
from migration_harness.reference.errors import RefError
from migration_harness.reference.hooks import Checkpoints
from migration_harness.reference.layout import (
    TOMBSTONE_TEXT,
    Repo,
    config_bytes,
    config_shape,
    file_block_paths,
    flat_path,
    read_config,
    read_file_blocks,
    read_store_blocks,
    reshape_config,
    sharded_path,
)
from migration_harness.reference.versions import LATEST

# typing.TYPE_CHECKING without importing typing (see layout).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Ctx:
    """One run of the tool on one repo: where, which checkpoints, which mutant."""

    # A plain class, not a dataclass: dataclasses' import (inspect and more) would add
    # to the start of every command a harness runs hundreds of times (see layout.Repo).
    def __init__(
        self, repo: Repo, hooks: Checkpoints | None = None, mutant: str | None = None
    ) -> None:
        self.repo = repo
        self.hooks = Checkpoints.disabled() if hooks is None else hooks
        self.mutant = mutant
        # Mutant inplace-config: the new config bytes, written when the step's data work is done.
        self.pending_config: bytes | None = None

    def write(self, path: Path, data: bytes) -> None:
        fsutil.atomic_write(path, data, self.hooks)

    def write_config(self, config: dict[str, Any]) -> None:
        """Replace the config atomically (unless a mutant says otherwise); no-op if unchanged."""
        path = self.repo.config_file
        data = config_bytes(config)
        if path.exists() and path.read_bytes() == data:
            return
        if self.mutant == "inplace-config":
            self.pending_config = data
            return
        fsutil.atomic_write(
            path,
            data,
            self.hooks,
            keep_open=self.mutant == "open-handle-rename",
            leave_temp=self.mutant == "temp-litter",
        )

    def restore_config(self, original: bytes) -> None:
        path = self.repo.config_file
        if not path.exists() or path.read_bytes() != original:
            fsutil.atomic_write(path, original, self.hooks)


# ---- building blocks ------------------------------------------------------------------------


def _move_blocks(ctx: Ctx, target: Callable[[Repo, str], Path]) -> None:
    repo = ctx.repo
    for key, path in file_block_paths(repo).items():
        dest = target(repo, key)
        if path == dest:
            continue
        dest.parent.mkdir(exist_ok=True)
        os.replace(path, dest)
        ctx.hooks.hit(f"moved block {key}")
    # sorted: the same order every run, so crash points line up between runs
    for directory in sorted({repo.blocks, *(p.parent for p in file_block_paths(repo).values())}):
        fsutil.fsync_dir(directory)


def shard_all(ctx: Ctx) -> None:
    _move_blocks(ctx, sharded_path)


def unshard_all(ctx: Ctx) -> None:
    _move_blocks(ctx, flat_path)
    for entry in ctx.repo.blocks.iterdir():
        if entry.is_dir():
            with contextlib.suppress(OSError):  # not empty: leave it
                entry.rmdir()


def build_store(ctx: Ctx) -> None:
    """Copy every file block into store.db in one transaction (a stale store.db is overwritten)."""
    import sqlite3  # here: only the step to version 4 needs it, and steps run as processes

    blocks = read_file_blocks(ctx.repo)
    try:
        with contextlib.closing(sqlite3.connect(ctx.repo.store_db, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "CREATE TABLE IF NOT EXISTS blocks (key TEXT PRIMARY KEY, data BLOB NOT NULL)"
            )
            db.execute("DELETE FROM blocks")
            db.executemany("INSERT INTO blocks VALUES (?, ?)", sorted(blocks.items()))
            db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise RefError(f"cannot write block store {ctx.repo.store_db}: {exc}") from None
    fsutil.fsync_dir(ctx.repo.root)
    ctx.hooks.hit("committed store.db")


def export_store(ctx: Ctx) -> None:
    """Write store.db's blocks back into the sharded files store."""
    repo = ctx.repo
    stored = read_store_blocks(repo)
    for key, data in stored.items():
        path = sharded_path(repo, key)
        if path.exists() and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        ctx.write(path, data)
    for key, path in file_block_paths(repo).items():
        if key not in stored:
            path.unlink()
            ctx.hooks.hit(f"removed block {key}")


def tombstone(ctx: Ctx) -> None:
    path = ctx.repo.tombstone
    if not path.exists() or path.read_bytes() != TOMBSTONE_TEXT:
        ctx.write(path, TOMBSTONE_TEXT)


def untombstone(ctx: Ctx) -> None:
    if fsutil.remove_file(ctx.repo.tombstone):
        fsutil.fsync_dir(ctx.repo.blocks)
        ctx.hooks.hit("removed TOMBSTONE")


# ---- the steps ------------------------------------------------------------------------------


def _forward(ctx: Ctx, frm: int, to: int, config: dict[str, Any]) -> None:
    repo = ctx.repo
    if (frm, to) == (2, 3):
        ctx.write_config(reshape_config(repo, config, 3))
        shard_all(ctx)
    elif (frm, to) == (3, 2):
        ctx.write_config(reshape_config(repo, config, 2))
        unshard_all(ctx)
    elif (frm, to) == (3, 4):
        build_store(ctx)
        if ctx.mutant != "no-tombstone":
            tombstone(ctx)
        ctx.write_config(reshape_config(repo, config, 4))
    elif (frm, to) == (4, 3):
        export_store(ctx)
        untombstone(ctx)
        ctx.write_config(reshape_config(repo, config, 3))
    else:  # 1 <-> 2: the config reshape only
        ctx.write_config(reshape_config(repo, config, to))


def _rollback(ctx: Ctx, frm: int, to: int, original: bytes) -> None:
    if (frm, to) == (2, 3):
        unshard_all(ctx)
    elif (frm, to) == (3, 2):
        shard_all(ctx)
    elif (frm, to) == (3, 4):
        untombstone(ctx)
        fsutil.remove_file(ctx.repo.store_db)
    elif (frm, to) == (4, 3):
        tombstone(ctx)
    ctx.restore_config(original)


def check_step(frm: int, to: int) -> None:
    if abs(frm - to) != 1 or min(frm, to) < 1 or max(frm, to) > LATEST:
        raise RefError(f"there is no migration step from version {frm} to {to}")


def apply_step(ctx: Ctx, frm: int, to: int) -> None:
    """Run the step ``frm -> to`` (data and config), undoing it if anything fails."""
    check_step(frm, to)
    original, config = read_config(ctx.repo)
    shape = config_shape(ctx.repo, config)
    if shape not in (frm, to):
        raise RefError(
            f"corrupt config {ctx.repo.config_file}: expected the version-{frm} layout "
            f"(or version-{to}, after an interrupted run), found the version-{shape} layout"
        )
    try:
        if ctx.mutant == "inplace-config":
            _forward_rewriting_config_in_place(ctx, frm, to, config, original)
        else:
            _forward(ctx, frm, to, config)
    except BaseException:
        rollback_step(ctx, frm, to, original)
        raise


def _forward_rewriting_config_in_place(
    ctx: Ctx, frm: int, to: int, config: dict[str, Any], original: bytes
) -> None:
    """Mutant inplace-config: open the config for writing (which truncates it) as the step
    starts and write the new one when the data work is done, as a tool streaming its output
    into the file it read would. A crash anywhere in the step leaves an empty config."""
    with fsutil.open_truncated(ctx.repo.config_file, ctx.hooks) as handle:
        ctx.pending_config = None
        _forward(ctx, frm, to, config)
        handle.write(original if ctx.pending_config is None else ctx.pending_config)


def rollback_step(ctx: Ctx, frm: int, to: int, original: bytes) -> None:
    """Undo whatever part of ``frm -> to`` was done; restore the config bytes ``original``."""
    with ctx.hooks.suspended():
        _rollback(ctx, frm, to, original)


def finish_step(ctx: Ctx, frm: int, to: int) -> None:
    """Clean-up once the version file records ``to`` (not checkpointed: the step is done)."""
    if (frm, to) == (4, 3) and fsutil.remove_file(ctx.repo.store_db):
        fsutil.fsync_dir(ctx.repo.root)
