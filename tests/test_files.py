"""Atomic writes, tree snapshots and the file/backup assertions."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from migration_harness.files import (
    TEMP_PATTERNS,
    AtomicWriter,
    FileState,
    assert_backup_equals,
    assert_file_bytes,
    assert_no_litter,
    assert_tree_unchanged,
    atomic_write,
    find_litter,
    restore_backup,
    snapshot_tree,
    tree_fingerprint,
)
from tests import sub

posix_modes = pytest.mark.skipif(
    sys.platform == "win32", reason="Windows keeps only the read-only bit of a mode"
)


def make_repo(root: Path) -> Path:
    (root / "blocks").mkdir(parents=True)
    (root / "config").write_bytes(b'{"version": 1}\n')
    (root / "blocks" / "a.data").write_bytes(b"\x00\x01binary")
    (root / "repo.log").write_bytes(b"noise\n")
    return root


# --- atomic_write ----------------------------------------------------------------------


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "config"
    atomic_write(target, "first é")
    assert target.read_bytes() == "first é".encode()
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    assert_no_litter(tmp_path)
    assert os.listdir(tmp_path) == ["config"]


@posix_modes
def test_atomic_write_keeps_the_target_mode(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@posix_modes
def test_atomic_write_mode_argument_wins(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write(target, "new", mode=0o600)
    assert_file_bytes(target, "new", mode=0o600)


def test_writer_abort_leaves_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_bytes(b"original")
    with AtomicWriter(target) as writer:
        writer.write(b"half of the new")
        temp = writer.temp_path
        assert temp is not None and temp.exists() and temp.parent == tmp_path
        writer.abort()
    assert not temp.exists()
    assert target.read_bytes() == b"original"
    assert_no_litter(tmp_path)


def test_writer_exception_leaves_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_bytes(b"original")
    with pytest.raises(ValueError, match="boom"), AtomicWriter(target) as writer:
        writer.write(b"partial")
        raise ValueError("boom")
    assert target.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["config"]


def test_failed_replace_removes_the_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.mkdir()  # a directory where the file should go: os.replace must fail
    (target / "inside").write_text("x")
    with pytest.raises(OSError):
        atomic_write(target, b"data")
    assert sorted(os.listdir(tmp_path)) == ["config"]


def test_write_outside_with_block_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        AtomicWriter(tmp_path / "x").write(b"data")


KILLED_MID_WRITE = """
import os, sys
from migration_harness.files import AtomicWriter
with AtomicWriter(sys.argv[1]) as writer:
    writer.write(b"new bytes, never committed")
    print(writer.temp_path, flush=True)
    os._exit(86)
"""


def test_killed_writer_leaves_target_intact_and_litter_is_detected(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_bytes(b"original")
    done = sub.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_MID_WRITE), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 86, done.stderr
    assert target.read_bytes() == b"original"
    leftover = Path(done.stdout.strip()).name
    assert find_litter(tmp_path) == [leftover]
    with pytest.raises(AssertionError, match=leftover.replace(".", r"\.")):
        assert_no_litter(tmp_path)


# --- litter --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["config.tmp", ".config.tmp", "config~", ".config.swp", "tmpab12", "blob.partial"]
)
def test_default_patterns_catch_common_temp_names(name: str, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / name).write_text("x")
    with pytest.raises(AssertionError, match=f"sub/{name}"):
        assert_no_litter(tmp_path)


def test_litter_check_ignores_ordinary_names(tmp_path: Path) -> None:
    make_repo(tmp_path)
    (tmp_path / "config.1-to-2.bak").write_text("backup")
    assert_no_litter(tmp_path)


def test_litter_patterns_and_ignore_are_configurable(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "x.tmp").write_text("x")
    (tmp_path / "data.staging").write_text("x")
    assert_no_litter(tmp_path, ignore=["work/*"])
    with pytest.raises(AssertionError, match=r"data\.staging"):
        assert_no_litter(tmp_path, patterns=[*TEMP_PATTERNS, "*.staging"], ignore=["work/*"])


# --- snapshots -------------------------------------------------------------------------


def test_snapshot_records_bytes_sizes_and_modes(tmp_path: Path) -> None:
    make_repo(tmp_path)
    snap = snapshot_tree(tmp_path)
    assert sorted(snap.files) == ["blocks/a.data", "config", "repo.log"]
    assert snap.data("blocks/a.data") == b"\x00\x01binary"
    state = snap.files["config"]
    assert isinstance(state, FileState)
    assert state.size == len('{"version": 1}\n')
    assert state.mode == stat.S_IMODE((tmp_path / "config").stat().st_mode)
    with pytest.raises(KeyError, match="nope"):
        snap.data("nope")


def test_snapshot_ignore_globs(tmp_path: Path) -> None:
    make_repo(tmp_path)
    snap = snapshot_tree(tmp_path, ignore=["*.log", "blocks/*"])
    assert sorted(snap.files) == ["config"]


def test_diff_lists_added_removed_changed(tmp_path: Path) -> None:
    make_repo(tmp_path)
    before = snapshot_tree(tmp_path)
    assert before.diff(snapshot_tree(tmp_path)) == ""
    (tmp_path / "config").write_bytes(b'{"version": 2}\n')
    (tmp_path / "repo.log").unlink()
    (tmp_path / "blocks" / "b.data").write_bytes(b"new")
    diff = before.diff(snapshot_tree(tmp_path))
    assert diff.splitlines() == [
        "added:   blocks/b.data (3 bytes)",
        "changed: config (content 15 -> 15 bytes)",
        "removed: repo.log (6 bytes)",
    ]


@posix_modes
def test_diff_sees_mode_changes(tmp_path: Path) -> None:
    make_repo(tmp_path)
    before = snapshot_tree(tmp_path)
    (tmp_path / "config").chmod(0o600)
    assert "mode" in before.diff(snapshot_tree(tmp_path))


def test_assert_tree_unchanged(tmp_path: Path) -> None:
    make_repo(tmp_path)
    before = snapshot_tree(tmp_path)
    assert_tree_unchanged(before)
    (tmp_path / "repo.log").write_text("more noise\n")
    assert_tree_unchanged(before, ignore=["*.log"])
    with pytest.raises(AssertionError, match=r"changed: repo\.log"):
        assert_tree_unchanged(before)


def test_assert_tree_unchanged_against_another_root(tmp_path: Path) -> None:
    original = make_repo(tmp_path / "a")
    copy = tmp_path / "b"
    shutil.copytree(original, copy)
    assert_tree_unchanged(snapshot_tree(original), copy)
    (copy / "blocks" / "a.data").unlink()
    with pytest.raises(AssertionError, match=r"removed: blocks/a\.data"):
        assert_tree_unchanged(snapshot_tree(original), copy)


def test_snapshot_restore_puts_a_tree_back(tmp_path: Path) -> None:
    make_repo(tmp_path)
    before = snapshot_tree(tmp_path)
    (tmp_path / "config").write_text("garbage")
    shutil.rmtree(tmp_path / "blocks")
    before.restore()
    assert_tree_unchanged(before)


def test_snapshot_of_missing_root_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        snapshot_tree(tmp_path / "nothing-here")


# --- bytes and backups -------------------------------------------------------------------


def test_assert_file_bytes(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_bytes(b"version = 2\n")
    assert_file_bytes(target, "version = 2\n")
    with pytest.raises(AssertionError, match="first difference at byte 10"):
        assert_file_bytes(target, b"version = 3\n")
    with pytest.raises(AssertionError, match="lengths differ"):
        assert_file_bytes(target, b"version = 2\nmore")
    with pytest.raises(AssertionError, match="does not exist"):
        assert_file_bytes(tmp_path / "missing", b"")


def test_backup_of_a_file_persists_and_restores(tmp_path: Path) -> None:
    """The backup contract in miniature: snapshot, back up, migrate, check, restore."""
    repo = make_repo(tmp_path / "repo")
    before = snapshot_tree(repo)
    backup = repo / "config.1-to-2.bak"
    shutil.copy2(repo / "config", backup)
    atomic_write(repo / "config", '{"version": 2}\n')  # the "migration"
    assert_backup_equals(backup, before.data("config"))
    restore_backup(backup, repo / "config")
    assert backup.exists(), "restoring must keep the backup"
    assert_tree_unchanged(before, ignore=["*.bak"])


def test_backup_missing_lists_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "config").write_text("x")
    with pytest.raises(AssertionError, match=r"(?s)config\.bak is missing.*holds: config"):
        assert_backup_equals(tmp_path / "config.bak", b"x")


def test_backup_with_other_bytes_fails(tmp_path: Path) -> None:
    (tmp_path / "config.bak").write_text("migrated already")
    with pytest.raises(AssertionError, match="other bytes"):
        assert_backup_equals(tmp_path / "config.bak", "original")


def test_backup_of_a_directory(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = snapshot_tree(repo)
    backup = tmp_path / "repo.bak"
    shutil.copytree(repo, backup)
    assert_backup_equals(backup, before)
    (backup / "blocks" / "a.data").write_bytes(b"corrupt")
    with pytest.raises(AssertionError, match=r"changed: blocks/a\.data"):
        assert_backup_equals(backup, before)


# --- fingerprints ------------------------------------------------------------------------


def test_equal_trees_in_different_places_share_a_fingerprint(tmp_path: Path) -> None:
    first = make_repo(tmp_path / "one" / "repo")
    second = tmp_path / "elsewhere" / "copy"
    shutil.copytree(first, second)
    os.utime(second / "config", (0, 0))  # times do not count
    assert tree_fingerprint(first) == tree_fingerprint(second) is not None


@pytest.mark.parametrize(
    "change",
    [
        lambda repo: (repo / "config").write_bytes(b'{"version": 2}\n'),
        lambda repo: (repo / "blocks" / "a.data").rename(repo / "blocks" / "b.data"),
        lambda repo: (repo / "empty").mkdir(),
        lambda repo: (repo / "repo.lock").write_bytes(b""),
        lambda repo: (repo / "blocks" / "a.data").unlink(),
    ],
    ids=["bytes", "name", "empty-directory", "empty-file", "removed"],
)
def test_any_change_a_read_could_see_changes_the_fingerprint(
    tmp_path: Path, change: Callable[[Path], object]
) -> None:
    repo = make_repo(tmp_path / "repo")
    before = tree_fingerprint(repo)
    change(repo)
    assert tree_fingerprint(repo) not in (before, None)


@posix_modes
def test_a_mode_or_a_symlink_target_changes_the_fingerprint(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "link").symlink_to("config")
    before = tree_fingerprint(repo)
    (repo / "link").unlink()
    (repo / "link").symlink_to("repo.log")
    relinked = tree_fingerprint(repo)
    (repo / "config").chmod(0o600)
    assert len({before, relinked, tree_fingerprint(repo)}) == 3


def test_a_single_file_repo_counts_its_companions(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.db").write_bytes(b"pages")
    assert tree_fingerprint(tmp_path / "a" / "a.db") == tree_fingerprint(tmp_path / "b" / "b.db")
    (tmp_path / "a" / "a.db-journal").write_bytes(b"hot")
    assert tree_fingerprint(tmp_path / "a" / "a.db") != tree_fingerprint(tmp_path / "b" / "b.db")


def test_no_fingerprint_for_a_tree_too_big_or_missing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    assert tree_fingerprint(repo, max_bytes=8) is None
    assert tree_fingerprint(repo, max_bytes=1024) is not None
    assert tree_fingerprint(tmp_path / "missing") is None
