"""``init``, ``stamp`` and ``golden``: deterministic sample repos at any version."""

from __future__ import annotations

import hashlib
from pathlib import Path

from migration_harness.reference.errors import RefError
from migration_harness.reference.hooks import Checkpoints
from migration_harness.reference.layout import Repo, config_bytes, flat_path
from migration_harness.reference.locking import RepoLock
from migration_harness.reference.steps import Ctx, apply_step
from migration_harness.reference.versions import LATEST, OLDEST, read_version, version_bytes

SAMPLE_CONFIG = {"Addr": "127.0.0.1", "Port": 5001, "Name": "refrepo-sample"}
SAMPLE_BLOCK_COUNT = 20
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")


def sample_blocks() -> dict[str, bytes]:
    """About twenty blocks with known content; the key is a prefix of the content's sha256."""
    blocks = {}
    for i in range(SAMPLE_BLOCK_COUNT):
        words = " ".join(_WORDS[(i + j) % len(_WORDS)] for j in range(1 + i % 5))
        data = f"block {i:02d}: {words}\n".encode()
        blocks[hashlib.sha256(data).hexdigest()[:20]] = data
    return blocks


def _check_version(version: int) -> None:
    if not OLDEST <= version <= LATEST:
        raise RefError(
            f"--version {version} is out of range: this refrepo makes {OLDEST}..{LATEST}"
        )


def _prepare_dir(root: Path) -> None:
    if (root / "version").exists():
        raise RefError(f"{root} is already a refrepo repo (it has a version file)")
    if root.exists() and not root.is_dir():
        raise RefError(f"{root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        raise RefError(f"{root} is not empty; init needs a new or empty directory")
    root.mkdir(parents=True, exist_ok=True)


def init(root: Path, version: int, *, wait_s: float) -> None:
    """Create a repo at ``version``: the v1 sample, then the in-process steps up to ``version``.

    Building every version through the same steps is what makes a golden vN and
    a v1 repo migrated to N byte-identical (apart from the migration's backups).
    """
    _check_version(version)
    _prepare_dir(root)
    repo = Repo(root)
    ctx = Ctx(repo, Checkpoints.disabled())
    with RepoLock(repo, wait_s=wait_s):
        repo.blocks.mkdir()
        for key, data in sample_blocks().items():
            ctx.write(flat_path(repo, key), data)
        ctx.write(repo.config_file, config_bytes(dict(SAMPLE_CONFIG)))
        for frm in range(OLDEST, version):
            apply_step(ctx, frm, frm + 1)
        ctx.write(repo.version_file, version_bytes(version))


def stamp(root: Path, version: int, *, wait_s: float) -> None:
    """Record ``version`` without migrating (e.g. to fake a repo from a newer binary)."""
    if version < 0:
        raise RefError(f"version {version} must not be negative")
    repo = Repo(root)
    read_version(repo.root)  # must already be a repo
    with RepoLock(repo, wait_s=wait_s):
        Ctx(repo).write(repo.version_file, version_bytes(version))


def golden(directory: Path, *, force: bool) -> list[Path]:
    """Write ``directory/v1`` .. ``vN``: a fresh repo at each version, without its lock file."""
    written = []
    for version in range(OLDEST, LATEST + 1):
        target = directory / f"v{version}"
        if target.exists():
            if not force:
                raise RefError(f"{target} exists; pass --force to replace it")
            if not (target / "version").exists():
                raise RefError(f"{target} is not a refrepo repo; refusing to replace it")
            import shutil  # here: only `golden --force` removes a tree

            shutil.rmtree(target)
        init(target, version, wait_s=10.0)
        (target / "repo.lock").unlink(missing_ok=True)
        written.append(target)
    return written
