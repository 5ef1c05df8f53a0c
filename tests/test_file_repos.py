"""`{repo}` as a single file: sqlitetool (a real SQLite migrator, tests/tools/sqlitetool)
keeps the contract, and each of its mutants breaks the contract item it should. The
repo's journal, WAL and temp files beside it count: copied, compared, looked at."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from migration_harness.crash import StraceBackend
from migration_harness.crash._repo import RepoBackup
from migration_harness.crash._strace import strace_unavailable_reason
from migration_harness.crash._sweep import tree_state
from migration_harness.files import (
    companions,
    copy_repo,
    find_litter,
    in_repo,
    snapshot_tree,
)
from migration_harness.scratch import Scratch
from tests import sub
from tests.specfiles import CHECK_RUNS, check, summary_row

pytestmark = CHECK_RUNS

SQLITETOOL = Path(__file__).parent / "tools" / "sqlitetool"
SPEC = SQLITETOOL / "migration-harness.toml"
TOOL = SQLITETOOL / "tool.py"
KEPT = [
    "forward",
    "revert",
    "idempotent",
    "lock-held",
    "stale-lock",
    "concurrent",
    "crash",
    "ahead",
    "no-litter",
]

needs_strace = pytest.mark.skipif(
    strace_unavailable_reason() is not None, reason=str(strace_unavailable_reason())
)


def check_sqlitetool(
    tmp_path: Path, *names: str, mutant: str | None = None, backend: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``check`` of sqlitetool, the contract items ``names`` only."""
    args = ["--config", str(SPEC), *(arg for name in names for arg in ("--contract", name))]
    args += ["--crash-backend", backend] if backend else []
    env = {"SQLITETOOL_MUTANT": mutant} if mutant else None
    return check(*args, cwd=tmp_path, env=env)


def tool(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return sub.run(
        [sys.executable, str(TOOL), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


# --- the whole contract ------------------------------------------------------------------


@pytest.mark.parametrize("contracts", [KEPT, ["hostile-paths"]], ids=["kept", "hostile-paths"])
def test_a_sqlite_file_repo_keeps_the_contract(tmp_path: Path, contracts: list[str]) -> None:
    result = check_sqlitetool(tmp_path, *contracts)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert "check: PASSED: sqlitetool" in result.stdout
    for contract in contracts:
        cases, passed, failed, skipped, _ = summary_row(result.stdout, contract)
        assert (failed, skipped) == ("0", "0") and passed == cases, (contract, result.stdout)


@pytest.mark.parametrize("backend", ["hook", "sweep"])
def test_every_crash_backend_copies_and_restores_a_file_repo(tmp_path: Path, backend: str) -> None:
    result = check_sqlitetool(tmp_path, "crash", "no-litter", backend=backend)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert summary_row(result.stdout, "crash")[:4] == ["1", "1", "0", "0"], result.stdout


# --- mutants -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutant", "contract", "says"),
    [
        # journal_mode=PERSIST keeps a -journal beside the database
        ("persist-journal", "no-litter", "temp files left behind after a successful migration"),
        # a VACUUM INTO copy left beside the database
        ("temp-copy", "no-litter", ": repo.tmp"),
        # switching to WAL on a refused run rewrites the file's header
        ("wal-on-open", "ahead", "the repo was changed (downgraded or corrupted):\nchanged: repo"),
    ],
)
def test_a_mutant_breaks_its_contract_item(
    tmp_path: Path, mutant: str, contract: str, says: str
) -> None:
    others = [c for c in ("forward", "idempotent", "no-litter", "ahead") if c != contract]
    result = check_sqlitetool(tmp_path, contract, *others, mutant=mutant)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr
    assert f"check: FAILED: sqlitetool broke {contract}:" in result.stdout, result.stdout
    assert says in result.stdout, result.stdout
    if mutant == "persist-journal":
        assert "repo-journal" in result.stdout
    for other in others:
        assert summary_row(result.stdout, other)[2] == "0", (other, result.stdout)


@needs_strace
def test_a_crash_mid_commit_without_a_journal_is_caught(tmp_path: Path) -> None:
    result = check_sqlitetool(tmp_path, "crash", mutant="journal-off")
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr
    assert "check: FAILED: sqlitetool broke crash:" in result.stdout, result.stdout
    assert "broke the repo" in result.stdout


# --- crash points on the journal ---------------------------------------------------------


@needs_strace
def test_a_hot_journal_is_rolled_back_and_never_copied_into_a_fresh_repo(tmp_path: Path) -> None:
    """strace's points include the -journal's writes; killed between two page writes of
    the commit, the run leaves a hot journal that the next run rolls back, and the fresh
    copy the next crash point starts from carries no journal."""
    repo = tmp_path / "repo"
    assert tool("create", repo, 1, cwd=tmp_path).returncode == 0
    before = tool("dump", repo, cwd=tmp_path).stdout
    pristine = tmp_path / "pristine-repo"
    copy_repo(repo, pristine)
    args = [sys.executable, str(TOOL), "migrate", str(repo), "3"]
    backend = StraceBackend()
    points = backend.enumerate(args, repo=repo, cwd=tmp_path)
    assert any(p.path.endswith("repo-journal") for p in points), [p.path for p in points]
    # the last write to the database before its last sync: the journal is still hot then
    mid_commit = [p for p in points if p.syscall == "pwrite64" and p.path == str(repo)][-1]
    backend.crash_at(mid_commit, args, repo=repo, cwd=tmp_path)
    assert (tmp_path / "repo-journal").is_file(), sorted(p.name for p in tmp_path.iterdir())
    rerun = tool("migrate", repo, 3, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert not (tmp_path / "repo-journal").exists()
    assert tool("dump", repo, cwd=tmp_path).stdout == before
    assert tool("version", repo, cwd=tmp_path).stdout.strip() == "3"

    scratch = Scratch(tmp_path)
    scratch.copy_tree(pristine, repo)
    backend.crash_at(mid_commit, args, repo=repo, cwd=tmp_path)
    assert (tmp_path / "repo-journal").is_file()
    scratch.copy_tree(pristine, repo)
    assert not (tmp_path / "repo-journal").exists()
    assert tool("version", repo, cwd=tmp_path).stdout.strip() == "1"
    assert tool("dump", repo, cwd=tmp_path).stdout == before


# --- the rule: a file repo is the file and its companions --------------------------------


def make_file_repo(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    repo = directory / "db"
    repo.write_bytes(b"database")
    (directory / "db-journal").write_bytes(b"journal")
    (directory / "db-wal").write_bytes(b"wal")
    (directory / "db.lock").write_bytes(b"")  # not "db-": beside it, not part of it
    (directory / "dbx-journal").write_bytes(b"another database's")
    (directory / "db-dir").mkdir()  # a directory is never a companion
    return repo


def test_companions_are_the_files_named_after_the_repo_and_a_dash(tmp_path: Path) -> None:
    repo = make_file_repo(tmp_path)
    assert [p.name for p in companions(repo)] == ["db-journal", "db-wal"]
    repo.unlink()  # a repo the tool removed still has its companions
    assert [p.name for p in companions(repo)] == ["db-journal", "db-wal"]


def test_in_repo_follows_the_same_rule(tmp_path: Path) -> None:
    root = str(tmp_path / "db")
    assert in_repo(root, root, single_file=True)
    assert in_repo(root + "-journal", root, single_file=True)
    assert not in_repo(root + ".lock", root, single_file=True)
    assert not in_repo(str(tmp_path / "db-dir" / "x"), root, single_file=True)
    assert in_repo(str(tmp_path / "db" / "x"), root, single_file=False)
    assert not in_repo(root + "-journal", root, single_file=False)


def test_a_file_snapshot_records_the_companions(tmp_path: Path) -> None:
    repo = make_file_repo(tmp_path)
    before = snapshot_tree(repo)
    assert sorted(before.files) == ["db", "db-journal", "db-wal"]
    (tmp_path / "db-shm").write_bytes(b"shm")
    (tmp_path / "db-wal").write_bytes(b"wal, longer")
    (tmp_path / "db.lock").write_bytes(b"held")  # not the repo's: not compared
    assert before.diff(snapshot_tree(repo)).splitlines() == [
        "added:   db-shm (3 bytes)",
        "changed: db-wal (content 3 -> 11 bytes)",
    ]
    assert snapshot_tree(repo, ignore=["db-wal", "*-shm"]).files.keys() == {"db", "db-journal"}


def test_litter_beside_a_file_repo_is_found(tmp_path: Path) -> None:
    repo = make_file_repo(tmp_path)
    (tmp_path / "db.tmp").write_bytes(b"half a copy")
    assert find_litter(repo) == ["db.tmp"]
    assert find_litter(repo, ("*.tmp", "*-journal")) == ["db-journal", "db.tmp", "dbx-journal"]
    assert find_litter(repo, ("*.tmp",), ignore=["db.tmp"]) == []


def test_copies_of_a_file_repo_carry_and_rename_its_companions(tmp_path: Path) -> None:
    repo = make_file_repo(tmp_path / "a")
    (tmp_path / "b").mkdir()
    copy_repo(repo, tmp_path / "b" / "copy")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "copy",
        "copy-journal",
        "copy-wal",
    ]
    assert (tmp_path / "b" / "copy-journal").read_bytes() == b"journal"


def test_replacing_a_file_repo_drops_companions_the_source_lacks(tmp_path: Path) -> None:
    scratch = Scratch(tmp_path)
    pristine = tmp_path / "pristine"
    pristine.write_bytes(b"fresh")
    repo = make_file_repo(tmp_path / "case")
    scratch.copy_tree(pristine, repo)
    assert sorted(p.name for p in repo.parent.iterdir()) == [
        "db",
        "db-dir",
        "db.lock",
        "dbx-journal",
    ]
    assert repo.read_bytes() == b"fresh"
    scratch.remove_repo(repo)
    assert sorted(p.name for p in repo.parent.iterdir()) == ["db-dir", "db.lock", "dbx-journal"]


def test_a_backup_of_a_file_repo_restores_its_companions(tmp_path: Path) -> None:
    repo = make_file_repo(tmp_path)
    with RepoBackup(repo) as backup:
        (tmp_path / "db-journal").unlink()
        (tmp_path / "db-shm").write_bytes(b"new")
        repo.write_bytes(b"changed")
        backup.restore()
        assert repo.read_bytes() == b"database"
        assert [p.name for p in companions(repo)] == ["db-journal", "db-wal"]
        assert (tmp_path / "db-journal").read_bytes() == b"journal"


def test_the_sweep_watches_the_companions(tmp_path: Path) -> None:
    repo = make_file_repo(tmp_path)
    before = tree_state(repo)
    assert [entry[0] for entry in before] == ["db", "db-journal", "db-wal"]
    (tmp_path / "db-journal").write_bytes(b"a longer journal")
    changed = tree_state(repo)
    assert changed != before
    (tmp_path / "db.lock").write_bytes(b"not the repo's")
    assert tree_state(repo) == changed
