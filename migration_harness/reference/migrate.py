"""``migrate``: the chain of steps from the repo's version to ``--to``, under one lock.

Per step: back up the config (``config.{from}-to-{to}.bak``, kept after
success), run the step (external executable or in process), then write the
version (data first, version last). A failing step is rolled back to the version
it started from, its config restored from the backup bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

from migration_harness.reference import external, fsutil
from migration_harness.reference.errors import RefError
from migration_harness.reference.layout import (
    config_bytes,
    config_shape,
    read_config,
    reshape_config,
)
from migration_harness.reference.locking import RepoLock, lock_wait_from_env
from migration_harness.reference.steps import (
    Ctx,
    apply_step,
    build_store,
    finish_step,
    rollback_step,
)
from migration_harness.reference.versions import (
    LATEST,
    OLDEST,
    ahead_message,
    read_version,
    version_bytes,
)


def plan(current: int, to: int) -> list[tuple[int, int]]:
    """The steps from ``current`` to ``to``, one version at a time."""
    direction = 1 if to > current else -1
    return [(v, v + direction) for v in range(current, to, direction)]


def check_target(current: int, to: int, *, allow_downgrade: bool) -> None:
    if not OLDEST <= to <= LATEST:
        raise RefError(f"--to {to} is out of range: this refrepo supports {OLDEST}..{LATEST}")
    if current < OLDEST:
        raise RefError(f"repo version {current} is older than the oldest supported ({OLDEST})")
    if to < current and not allow_downgrade:
        raise RefError(
            f"repo is at version {current}; migrating down to {to} needs --allow-downgrade"
        )


def migrate(ctx: Ctx, to: int, *, allow_downgrade: bool, environ: Mapping[str, str]) -> str:
    """Migrate ``ctx.repo`` to ``to``; returns the line to print on success."""
    wait_s = lock_wait_from_env(environ)
    with RepoLock(ctx.repo, wait_s=wait_s, mutant=ctx.mutant):
        return migrate_locked(ctx, to, allow_downgrade=allow_downgrade, environ=environ)


def migrate_locked(ctx: Ctx, to: int, *, allow_downgrade: bool, environ: Mapping[str, str]) -> str:
    """The chain itself, for a caller that already holds the repo lock (the daemon's
    ``--migrate``): the lock is taken once per process, never twice."""
    current = read_version(ctx.repo.root)
    if current > LATEST:
        if ctx.mutant == "ahead-downgrade":
            return _downgrade_ahead(ctx, current)
        raise RefError(ahead_message(current))
    check_target(current, to, allow_downgrade=allow_downgrade)
    read_config(ctx.repo)  # a corrupt config fails here, before anything is written
    steps = plan(current, to)
    executables = {
        (frm, t): external.find_step(external.executable_name(frm, t), environ, mutant=ctx.mutant)
        for frm, t in steps
        if external.is_external(frm, t)
    }
    _remove_stale_temps(ctx)
    if not steps:
        return _already_there(ctx, current)
    for frm, t in steps:
        _run_one(ctx, frm, t, executables.get((frm, t)), environ)
    return f"migrated {ctx.repo.root} from version {current} to {to}"


def _remove_stale_temps(ctx: Ctx) -> None:
    blocks = ctx.repo.blocks
    shards = [p for p in blocks.iterdir() if p.is_dir()] if blocks.is_dir() else []
    fsutil.remove_stale_temps(ctx.repo.root, blocks, *shards)


def _already_there(ctx: Ctx, current: int) -> str:
    repo = ctx.repo
    if current == LATEST and not repo.store_db.exists() and repo.tombstone.exists():
        # store.db was deleted: the tombstoned files store still has the data; copy it again.
        build_store(ctx)
        return f"rebuilt {repo.store_db} from the tombstoned {repo.blocks}"
    return f"{repo.root} is already at version {current}"


def _run_one(
    ctx: Ctx, frm: int, to: int, executable: str | None, environ: Mapping[str, str]
) -> None:
    repo = ctx.repo
    original, config = read_config(repo)
    backup = repo.backup(frm, to)
    # After a crash the config may already be reshaped; keep the backup of the real original.
    if config_shape(repo, config) == frm or not backup.exists():
        ctx.write(backup, original)
    try:
        if ctx.mutant == "version-first":
            ctx.write(repo.version_file, version_bytes(to))
        if executable is not None:
            external.run_step(ctx, executable, frm, to, environ)
        else:
            apply_step(ctx, frm, to)
        if ctx.mutant != "version-first":
            ctx.write(repo.version_file, version_bytes(to))
    except BaseException:
        if ctx.mutant != "no-rollback":
            _undo(ctx, frm, to, original)
        raise
    finish_step(ctx, frm, to)
    if ctx.mutant == "drop-backup":
        backup.unlink()


def _undo(ctx: Ctx, frm: int, to: int, original: bytes) -> None:
    """Put the repo back at ``frm``: data, config (from the backup bytes), version.

    An external step that fails undoes its own changes; the in-process rollback here
    is tolerant of that (every rollback accepts a repo already rolled back) and also
    covers a failure after the step returned, while the version is written.
    """
    with ctx.hooks.suspended():
        rollback_step(ctx, frm, to, original)
        if read_version(ctx.repo.root) != frm:
            ctx.write(ctx.repo.version_file, version_bytes(frm))


def _downgrade_ahead(ctx: Ctx, current: int) -> str:
    # Mutant ahead-downgrade: "fixes" a repo from a newer binary by rewriting it as our latest.
    _, config = read_config(ctx.repo)
    ctx.write(ctx.repo.config_file, config_bytes(reshape_config(ctx.repo, config, LATEST)))
    ctx.write(ctx.repo.version_file, version_bytes(LATEST))
    return f"migrated {ctx.repo.root} from version {current} to {LATEST}"
