"""Mock executables that lock as real tools do: a kernel lock on the lock file (held while
the mock runs, dropped by the kernel when it dies), not the file's existence."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from migration_harness.locks import hold_lock
from migration_harness.mockbin import MockBin, MockSpecError, build_mock
from migration_harness.proc import run

HERE_NOT = "posix" if sys.platform == "win32" else "windows"
SAME_AS_GO = "windows" if sys.platform == "win32" else "flock"


def test_a_left_over_unheld_lock_file_does_not_stop_a_kernel_locking_mock(
    mockbin: MockBin, tmp_path: Path
) -> None:
    lock = tmp_path / "repo.lock"
    lock.write_text("left by a killed Go tool\n")
    mock = mockbin("gotool", lock_file={"path": str(lock), "style": "go-lockedfile"})
    run([str(mock.path)]).assert_ok()
    assert lock.exists(), "a kernel lock file stays, as Go's does"


@pytest.mark.parametrize("style", ["go-lockedfile", SAME_AS_GO])
def test_a_kernel_lock_held_elsewhere_makes_the_mock_refuse(
    mockbin: MockBin, tmp_path: Path, style: str
) -> None:
    lock = tmp_path / "repo.lock"
    mock = mockbin("gotool", lock_file={"path": str(lock), "style": style, "exists_exit_code": 7})
    with hold_lock("go-lockedfile", lock):
        refused = run([str(mock.path)])
    assert refused.returncode == 7, refused.describe()
    assert "repo.lock is locked by another process" in refused.stderr
    assert run([str(mock.path)]).ok, "free again once the holder let go"


def test_create_checks_the_lock_is_free_and_keeps_nothing_held(
    mockbin: MockBin, tmp_path: Path
) -> None:
    lock = tmp_path / "repo.lock"
    creator = mockbin(
        "creator", lock_file={"path": str(lock), "action": "create", "style": SAME_AS_GO}
    )
    run([str(creator.path)]).assert_ok()
    with hold_lock(SAME_AS_GO, lock):  # would wait, then fail, if the mock still held it
        pass


def test_a_style_this_os_lacks_is_refused_at_build(tmp_path: Path) -> None:
    with pytest.raises(MockSpecError, match=rf"lock_file.style: '{HERE_NOT}' locks do not exist"):
        build_mock(tmp_path, "m", {"lock_file": {"path": "l", "style": HERE_NOT}})
    with pytest.raises(MockSpecError, match="lock_file"):
        build_mock(tmp_path, "m", {"lock_file": {"path": "l", "style": "fcntl"}})


def test_the_cli_reaches_the_style(tmp_path: Path) -> None:
    lock = tmp_path / "repo.lock"
    built = run(
        [sys.executable, "-m", "migration_harness", "mock", "gotool", "--dir", str(tmp_path),
         "--lock-file", str(lock), "--lock-style", "go-lockedfile"]
    )  # fmt: skip
    built.assert_ok()
    mock = Path(built.stdout.strip())
    with hold_lock("go-lockedfile", lock):
        assert run([str(mock)]).returncode == 1
    bad = run(
        [sys.executable, "-m", "migration_harness", "mock", "x", "--dir", str(tmp_path),
         "--lock-style", "flock"]
    )  # fmt: skip
    assert bad.returncode == 2 and "--lock-style needs --lock-file PATH" in bad.stderr
