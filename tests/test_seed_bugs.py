"""The seed bugs, reproduced with tiny in-test programs.

Each test states the platform fact it relies on, so a failure says which
assumption about the OS stopped being true.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from migration_harness.fixtures import LockHolderFactory
from migration_harness.locks import STYLES, unsupported_reason
from tests import sub


def run_program(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return sub.run(
        [sys.executable, "-c", textwrap.dedent(program), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- "lock is already held by us": a second acquisition in the same process -------------

FILELOCK_TWICE = """
import sys, filelock
first = filelock.FileLock(sys.argv[1], timeout=0)
first.acquire()
second = filelock.FileLock(sys.argv[1], timeout=0)
try:
    second.acquire()
except filelock.Timeout:
    print("second acquisition refused: the lock is already held by us")
    sys.exit(0)
print("second acquisition succeeded")
sys.exit(1)
"""

FLOCK_TWICE = """
import fcntl, os, sys
first = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
second = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("second acquisition refused: the lock is already held by us")
    sys.exit(0)
sys.exit(1)
"""

MSVCRT_TWICE = """
import msvcrt, os, sys
first = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
msvcrt.locking(first, msvcrt.LK_NBLCK, 1)
second = os.open(sys.argv[1], os.O_RDWR)
try:
    msvcrt.locking(second, msvcrt.LK_NBLCK, 1)
except OSError:
    print("second acquisition refused: the lock is already held by us")
    sys.exit(0)
sys.exit(1)
"""


def test_filelock_taken_twice_in_one_process_fails(tmp_path: Path) -> None:
    """A tool that opens its repo twice in one process (say, the migration step opens
    the store through the normal code path) deadlocks or fails on its own lock."""
    done = run_program(FILELOCK_TWICE, str(tmp_path / "repo.lock"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "already held by us" in done.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="flock() does not exist on Windows")
def test_flock_taken_twice_in_one_process_fails(tmp_path: Path) -> None:
    """flock belongs to the open file description: a second open() in the same
    process conflicts with the first, exactly like another process would."""
    done = run_program(FLOCK_TWICE, str(tmp_path / "repo.lock"))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(sys.platform != "win32", reason="msvcrt exists only on Windows")
def test_windows_lock_taken_twice_in_one_process_fails(tmp_path: Path) -> None:
    done = run_program(MSVCRT_TWICE, str(tmp_path / "repo.lock"))
    assert done.returncode == 0, done.stdout + done.stderr


# fcntl is the opposite trap: locks belong to the process, so a second lock
# "succeeds", and closing *any* descriptor of the file drops the lock.
FCNTL_CLOSE_DROPS_LOCK = """
import fcntl, os, sys
lock_fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
other = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(other, fcntl.LOCK_EX | fcntl.LOCK_NB)   # no error: same process
os.close(other)                                      # ... and this drops the lock
print("ready", flush=True)
sys.stdin.readline()
"""

TRY_FCNTL = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(1)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="fcntl does not exist on Windows")
def test_fcntl_lock_is_lost_when_the_same_process_closes_another_descriptor(
    tmp_path: Path,
) -> None:
    """The classic POSIX record-lock pitfall (why SQLite keeps one fd per inode):
    reading the lock file through a second descriptor and closing it unlocks the repo."""
    path = tmp_path / "repo.lock"
    holder = sub.Popen(
        [sys.executable, "-c", textwrap.dedent(FCNTL_CLOSE_DROPS_LOCK), str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert run_program(TRY_FCNTL, str(path)).returncode == 0, "lock unexpectedly still held"
    finally:
        holder.communicate("done\n", timeout=60)


# --- rename or remove a file that is still open ----------------------------------------


def test_replace_onto_an_open_file(tmp_path: Path) -> None:
    """Windows refuses to replace a file another handle has open without
    FILE_SHARE_DELETE (Python's open() never asks for it): WinError 5 "Access is
    denied" or 32 "being used by another process". POSIX renames the directory
    entry and the open handle keeps reading the old inode, which is why a tool
    tested only on Linux never sees this bug."""
    target, temp = tmp_path / "config", tmp_path / "config.tmp"
    target.write_bytes(b"old")
    temp.write_bytes(b"new")
    with target.open("rb") as still_open:
        if sys.platform == "win32":
            with pytest.raises(PermissionError) as info:
                os.replace(temp, target)
            assert getattr(info.value, "winerror", None) in (5, 32)
            assert target.read_bytes() == b"old"
        else:
            os.replace(temp, target)
            assert target.read_bytes() == b"new"
            assert still_open.read() == b"old", "the open handle follows the old inode"


def test_remove_an_open_file(tmp_path: Path) -> None:
    """WinError 32 on Windows; on POSIX unlink just drops the name."""
    target = tmp_path / "blocks.db"
    target.write_bytes(b"data")
    with target.open("rb"):
        if sys.platform == "win32":
            with pytest.raises(PermissionError) as info:
                target.unlink()
            assert getattr(info.value, "winerror", None) == 32
        else:
            target.unlink()
            assert not target.exists()


# --- stale lock after a hard kill, for each style ------------------------------------------


@pytest.mark.parametrize("style", [s for s in STYLES if s != "command"])
def test_stale_lock_after_hard_kill(
    style: str, tmp_path: Path, lock_holder: LockHolderFactory
) -> None:
    """What a tool finds after its predecessor was killed: kernel locks are gone (the
    file may stay, and must not be mistaken for a held lock); a mkdir dir or pid file
    stays and blocks until the tool recognises it as stale."""
    if unsupported_reason(style) is not None:
        pytest.skip(f"{style} on {sys.platform}: {unsupported_reason(style)}")
    path = tmp_path / "repo.lock"
    holder = lock_holder(style, path)
    pid = holder.pid
    holder.crash()
    if style == "pidfile":
        # Staleness is detectable: the recorded owner is dead.
        recorded = int(path.read_text())
        assert recorded == pid
        assert not psutil.pid_exists(recorded) or (
            psutil.Process(recorded).status() == psutil.STATUS_ZOMBIE
        )
    elif style == "mkdir":
        # Staleness is detectable by age only: nobody refreshes the mtime any more.
        assert path.is_dir()
    elif style == "exclusive-open":
        assert not path.exists()
    else:
        # The lock file outlives its holder: a tool that locks "by existence" of
        # this file would now refuse forever (the Windows lock file left behind).
        assert path.is_file()
