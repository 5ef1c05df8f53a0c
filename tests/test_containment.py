"""Nothing outside a case's scratch directory is touched: every path key of a spec is refused
at load unless it lies inside, and a symlink the tool plants cannot turn a delete or a lock
of the harness against the user's files. A canary directory outside stands for those files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from migration_harness.crash._repo import RepoBackup
from migration_harness.spec import load_target
from migration_harness.target import REFERENCE_SPEC, SpecError, is_contained
from tests.specfiles import check

needs_symlinks = pytest.mark.skipif(
    sys.platform == "win32", reason="creating symlinks needs a privilege on Windows"
)


def make_canary(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A directory outside every scratch directory, with a file a harness could delete."""
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "store.db").write_bytes(b"the user's data\n")
    (canary / "lockfile").write_bytes(b"")
    (canary / "keep").mkdir()
    (canary / "keep" / "version").write_bytes(b"1\n")
    return canary, contents(canary)


def contents(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[str(Path(dirpath, name).relative_to(root))] = b"<dir>"
        for name in filenames:
            full = Path(dirpath, name)
            out[str(full.relative_to(root))] = full.read_bytes()
    return out


def reference_spec(tmp_path: Path, old: str, new: str) -> Path:
    """The reference tool's spec with one edit, in its own directory."""
    text = REFERENCE_SPEC.read_text(encoding="utf-8")
    assert old in text, old
    spec = tmp_path / "spec" / "migration-harness.toml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(text.replace(old, new, 1), encoding="utf-8")
    return spec


LOCK = 'path = "{repo}/repo.lock"'
BACKUPS = 'backups = ["{repo}/config.{from}-to-{to}.bak"]'

# key -> (text in the reference spec, its replacement with X standing for the path)
EDITS = {
    "version_file": ('name = "refrepo"', 'name = "refrepo"\nversion_file = "X"'),
    "lock.path": (LOCK, 'path = "X"'),
    "backups[0].at": (BACKUPS, 'backups = [{ at = "X", of = "{repo}/config" }]'),
    "backups[0].of": (BACKUPS, 'backups = [{ at = "{repo}/config.bak", of = "X" }]'),
    "tombstone.old": ('old = "{repo}/blocks"', 'old = "X"'),
    "tombstone.new": ('new = "{repo}/store.db"', 'new = "X"'),
    "ignore[0]": ('ignore = ["{repo}/repo.lock"]', 'ignore = ["X"]'),
}


@pytest.mark.parametrize("key", sorted(EDITS))
def test_a_path_key_pointing_outside_is_refused_by_check(tmp_path: Path, key: str) -> None:
    canary, before = make_canary(tmp_path)
    old, new = EDITS[key]
    value = (canary / "store.db").as_posix()
    spec = reference_spec(tmp_path, old, new.replace("X", value))
    result = check("--config", str(spec), cwd=tmp_path)
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f'{spec}: target.{key}: "{value}" lies outside the case\'s scratch directory' in lines[0]
    assert "expected a path under {repo}" in lines[0]
    assert contents(canary) == before


@pytest.mark.parametrize("key", sorted(EDITS))
@pytest.mark.parametrize(
    "value",
    [
        "{repo}/../../canary/store.db",
        "{repo}/a/../../../canary",
        "{repo}\\\\..\\\\..\\\\canary",
        "{repo}/..",
        "{here}/canary/store.db",
        "{scripts}/x",
        "/etc/passwd",
        "C:/Windows/x",
        "C:x",
        "../../x-lock",
    ],
)
def test_every_escape_is_refused_at_load(tmp_path: Path, key: str, value: str) -> None:
    old, new = EDITS[key]
    spec = reference_spec(tmp_path, old, new.replace("X", value))
    with pytest.raises(SpecError) as info:
        load_target(spec)
    assert str(info.value).startswith(f"{spec}: target.{key}: "), info.value
    assert "lies outside the case's scratch directory" in str(info.value)


@pytest.mark.parametrize(
    "value",
    ["{repo}/repo.lock", "{repo}.lock", "{repo}/../repo.lock", "{repo}/a/../b", "{repo}\\\\x"],
)
def test_paths_inside_the_scratch_directory_load(tmp_path: Path, value: str) -> None:
    spec = reference_spec(tmp_path, LOCK, f'path = "{value}"')
    target = load_target(spec)
    assert target.lock is not None and target.lock.path == value.replace("\\\\", "\\")


def test_relative_ignore_globs_are_read_under_the_repo() -> None:
    assert is_contained("*.log", relative_to_repo=True)
    assert is_contained("logs/*", relative_to_repo=True)
    assert not is_contained("../../*", relative_to_repo=True)
    assert not is_contained("repo.lock")  # a writeable key never takes a relative path


@pytest.mark.parametrize("name", ["../../bin/step-{from}", "bin/step-{to}", "{here}-x", ".."])
def test_external_step_names_have_no_directory_part(tmp_path: Path, name: str) -> None:
    spec = reference_spec(tmp_path, '"refrepo-{from}-to-{to}"', f'"{name}"')
    with pytest.raises(SpecError, match=r"target\.external_migrations: expected an executable"):
        load_target(spec)


# --- symlinks the tool plants ------------------------------------------------------------

# Wraps a reference command; after it succeeds, plants a symlink to the canary in the repo.
PLANTER = """
import os, subprocess, sys
mode, repo, canary, *args = sys.argv[1:]
code = subprocess.call([sys.executable, "-m", "migration_harness.reference", *args])
if code == 0:
    link, to = {
        "store-is-a-link": ("store.db", canary),
        "parent-is-a-link": ("sub", canary),
        "lock-is-a-link": ("repo.lock", os.path.join(canary, "new-lockfile")),
    }[mode]
    link = os.path.join(repo, link)
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(to, link)
sys.exit(code)
"""


def planting_spec(tmp_path: Path, canary: Path, mode: str, verb: str, *edits: str) -> Path:
    """The reference spec whose ``verb`` command also plants the symlink ``mode``."""
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "planter.py").write_text(PLANTER, encoding="utf-8")
    text = REFERENCE_SPEC.read_text(encoding="utf-8")
    old = f'{verb} = ["{{python}}", "-m", "migration_harness.reference", '
    new = f'{verb} = ["{{python}}", "{{here}}/planter.py", "{mode}", "{{repo}}", "{canary}", '
    assert old in text
    text = text.replace(old, new, 1)
    for i in range(0, len(edits), 2):
        assert edits[i] in text
        text = text.replace(edits[i], edits[i + 1])
    spec = tmp_path / "spec" / "migration-harness.toml"
    spec.write_text(text, encoding="utf-8")
    return spec


def expect_refused_failure(result: subprocess.CompletedProcess[str], doing: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-4000:]
    assert "Traceback" not in output
    assert f"refused to {doing}" in output, output[-4000:]
    assert "outside the scratch directory" in output
    verdicts = [line for line in result.stdout.splitlines() if line.startswith("check: ")]
    assert verdicts and verdicts[-1].startswith("check: FAILED"), result.stdout[-2000:]


@needs_symlinks
@pytest.mark.parametrize(
    ("mode", "new_store"),
    [("store-is-a-link", "{repo}/store.db"), ("parent-is-a-link", "{repo}/sub/store.db")],
)
def test_tombstone_does_not_delete_through_a_planted_symlink(
    tmp_path: Path, mode: str, new_store: str
) -> None:
    canary, before = make_canary(tmp_path)
    spec = planting_spec(
        tmp_path,
        canary,
        mode,
        "migrate",
        'new = "{repo}/store.db"',
        f'new = "{new_store}"',
    )
    result = check("--config", str(spec), "--contract", "tombstone", cwd=tmp_path)
    expect_refused_failure(result, "delete the new store")
    assert contents(canary) == before


@needs_symlinks
def test_the_lock_holder_is_not_pointed_through_a_planted_symlink(tmp_path: Path) -> None:
    canary, before = make_canary(tmp_path)
    spec = planting_spec(tmp_path, canary, "lock-is-a-link", "create")
    result = check("--config", str(spec), "--contract", "lock-held", cwd=tmp_path)
    expect_refused_failure(result, "take the lock at")
    assert contents(canary) == before  # no lock file created through the link


@needs_symlinks
def test_a_crash_backup_is_not_restored_through_a_repo_turned_into_a_link(
    tmp_path: Path,
) -> None:
    from migration_harness.scratch import OutsideScratch

    canary, before = make_canary(tmp_path)
    scratch = tmp_path / "scratch"
    repo = scratch / "repo"
    repo.mkdir(parents=True)
    (repo / "version").write_text("1\n", encoding="utf-8")
    with RepoBackup(repo) as backup:
        # The tool swaps the scratch directory itself for a link to the canary.
        scratch.rename(tmp_path / "moved")
        scratch.symlink_to(canary, target_is_directory=True)
        with pytest.raises(OutsideScratch, match="outside the scratch directory"):
            backup.restore()
    assert contents(canary) == before


@needs_symlinks
def test_scratch_removes_a_link_inside_as_a_link_and_refuses_its_own_root(tmp_path: Path) -> None:
    from migration_harness.scratch import OutsideScratch, Scratch

    root = tmp_path / "scratch"
    (root / "data").mkdir(parents=True)
    (root / "data" / "f").write_bytes(b"kept")
    (root / "link").symlink_to(root / "data", target_is_directory=True)
    scratch = Scratch(root)
    scratch.remove(root / "link")
    assert not (root / "link").exists() and (root / "data" / "f").read_bytes() == b"kept"
    scratch.remove(root / "missing")  # nothing there: nothing to do
    for outside in (root, root / "data" / ".." / ".."):
        with pytest.raises(OutsideScratch):
            scratch.remove(outside)
    assert (root / "data" / "f").read_bytes() == b"kept"
