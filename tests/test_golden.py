"""Golden repos of the reference tool (fixtures/golden/v1..v4), as kubo keeps golden dirs.

Regenerate them with ``python -m migration_harness.reference golden fixtures/golden --force``.
What is compared, and why:
- the committed fixtures against a fresh generation: every file byte for byte,
  except ``store.db``, compared by its rows (SQLite writes its own library version
  into the file header, so another SQLite makes other bytes for the same data);
- a v1 repo migrated to N against a fresh golden vN made on this machine: byte for
  byte, ``store.db`` included, except what only a migration leaves (its config
  backups and the lock file);
- every golden repo migrated to latest: the same dump as golden v1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from bench.common import reference_steps_dir
from migration_harness.files import snapshot_tree
from migration_harness.proc import RunResult, run
from migration_harness.reference import LATEST, OLDEST

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"
VERSIONS = range(OLDEST, LATEST + 1)
MIGRATION_ONLY = ["config.*.bak", "repo.lock"]


def tool(*args: object) -> RunResult:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFREPO_", "MIGRATION_"))}
    env["PATH"] = os.pathsep.join([reference_steps_dir(), env.get("PATH", "")])
    result = run([sys.executable, "-m", "migration_harness.reference", *map(str, args)], env=env)
    result.assert_ok()
    return result


def store_rows(path: Path) -> list[tuple[str, bytes]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return list(db.execute("SELECT key, data FROM blocks ORDER BY key"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("golden")
    tool("golden", directory)
    return directory


def copy_golden(version: int, tmp_path: Path) -> Path:
    repo = tmp_path / f"v{version}"
    shutil.copytree(GOLDEN / f"v{version}", repo)
    return repo


@pytest.mark.parametrize("version", VERSIONS)
def test_fixtures_match_a_fresh_generation(fresh: Path, version: int) -> None:
    committed = snapshot_tree(GOLDEN / f"v{version}", ignore=["store.db"])
    generated = snapshot_tree(fresh / f"v{version}", ignore=["store.db"])
    assert committed.diff(generated) == "", (
        "fixtures/golden is stale: regenerate it with "
        "'python -m migration_harness.reference golden fixtures/golden --force'"
    )
    if version == LATEST:
        assert store_rows(GOLDEN / "v4" / "store.db") == store_rows(fresh / "v4" / "store.db")
    else:
        assert not (GOLDEN / f"v{version}" / "store.db").exists()


@pytest.mark.parametrize("version", VERSIONS)
def test_golden_repo_migrates_to_latest_with_the_same_dump(tmp_path: Path, version: int) -> None:
    expected = tool("dump", GOLDEN / "v1").stdout
    repo = copy_golden(version, tmp_path)
    assert tool("version", repo).stdout.strip() == str(version)
    assert tool("dump", repo).stdout == expected
    tool("migrate", repo, "--to", LATEST)
    assert tool("dump", repo).stdout == expected


@pytest.mark.parametrize("version", range(OLDEST + 1, LATEST + 1))
def test_v1_migrated_equals_golden(tmp_path: Path, fresh: Path, version: int) -> None:
    repo = copy_golden(OLDEST, tmp_path)
    tool("migrate", repo, "--to", version)
    migrated = snapshot_tree(repo, ignore=MIGRATION_ONLY)
    golden = snapshot_tree(fresh / f"v{version}")
    assert golden.diff(migrated) == ""
    backups = sorted(p.name for p in repo.glob("config.*.bak"))
    assert backups == [f"config.{v}-to-{v + 1}.bak" for v in range(OLDEST, version)]


def test_golden_refuses_to_overwrite_without_force(fresh: Path, tmp_path: Path) -> None:
    target = tmp_path / "g"
    shutil.copytree(fresh, target)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFREPO_")}
    refused = run(
        [sys.executable, "-m", "migration_harness.reference", "golden", str(target)], env=env
    )
    assert refused.returncode == 1 and "--force" in refused.stderr, refused.describe()
    tool("golden", target, "--force")
    assert snapshot_tree(target).diff(snapshot_tree(fresh)) == ""
