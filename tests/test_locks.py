"""Lock holders in every style against real second processes, plus the lock assertions.

The probes below are tiny programs written here, independent of migration_harness.locks:
each tries its style once without blocking and exits 0 (took it) or 1 (busy).
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from migration_harness.fixtures import LockHolderFactory
from migration_harness.locks import (
    STYLES,
    LockHolder,
    LockHolderError,
    UnsupportedLockStyle,
    assert_blocks_until_released,
    assert_fails_fast,
    hold_lock,
    probe_lock,
    unsupported_reason,
)
from migration_harness.proc import DEFAULT_GRACE
from tests import sub

PROBES: dict[str, str] = {
    "posix": """
        import fcntl, os, sys
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            sys.exit(1)
    """,
    "flock": """
        import fcntl, os, sys
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            sys.exit(1)
    """,
    "windows": """
        import msvcrt, os, sys
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            sys.exit(1)
    """,
    "exclusive-open": """
        import sys
        try:
            open(sys.argv[1], "ab").close()
        except PermissionError:
            sys.exit(1)
    """,
    "mkdir": """
        import os, sys
        try:
            os.mkdir(sys.argv[1])
        except FileExistsError:
            sys.exit(1)
        os.rmdir(sys.argv[1])
    """,
    "pidfile": """
        import os, sys
        try:
            fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            sys.exit(1)
        os.close(fd)
        os.unlink(sys.argv[1])
    """,
    "sqlite": """
        import sqlite3, sys
        db = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            sys.exit(1)
        db.execute("ROLLBACK")
    """,
    "filelock": """
        import sys, filelock
        try:
            filelock.FileLock(sys.argv[1], timeout=0).acquire()
        except filelock.Timeout:
            sys.exit(1)
    """,
}
# What Go's lockedfile takes on this OS: the same probe as that style's.
PROBES["go-lockedfile"] = PROBES["windows" if sys.platform == "win32" else "flock"]

FILE_STYLES = [s for s in STYLES if s != "command"]
# Kernel-held locks vanish with their holder; the others are files or dirs that stay.
KERNEL_STYLES = {
    "posix", "flock", "windows", "exclusive-open", "sqlite", "filelock", "go-lockedfile"
}  # fmt: skip
STALE_STYLES = {"mkdir", "pidfile"}


def probe(style: str, path: Path) -> bool:
    """True if an independent process could take ``style`` on ``path`` right now."""
    done = sub.run(
        [sys.executable, "-c", textwrap.dedent(PROBES[style]), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1), f"probe for {style} broke:\n{done.stderr}"
    return done.returncode == 0


def skip_unless_supported(style: str) -> None:
    reason = unsupported_reason(style)
    if reason is not None:
        pytest.skip(f"{style} on {sys.platform}: {reason}")


def test_every_style_has_a_probe() -> None:
    assert set(PROBES) == set(FILE_STYLES)


@pytest.mark.parametrize("style", FILE_STYLES)
def test_holding_blocks_another_process_until_release(
    style: str, tmp_path: Path, lock_holder: LockHolderFactory
) -> None:
    path = tmp_path / "repo.lock"
    holder = lock_holder(style, path)
    assert holder.state == "held"
    assert not probe(style, path), f"{style}: a second process took the lock while it was held"
    holder.release()
    assert not holder.alive
    assert holder.returncode == 0
    assert probe(style, path), f"{style}: the lock was still taken after release"


@pytest.mark.parametrize("style", FILE_STYLES)
def test_crash_leaves_the_stale_state_of_its_style(
    style: str, tmp_path: Path, lock_holder: LockHolderFactory
) -> None:
    path = tmp_path / "repo.lock"
    holder = lock_holder(style, path)
    pid = holder.pid
    holder.crash()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert holder.state == "crashed"
    if style == "exclusive-open":  # checked first: the probe below creates the file again
        assert not path.exists(), "FILE_FLAG_DELETE_ON_CLOSE removes the file with the handle"
    if style not in ("mkdir", "exclusive-open"):  # checked first: a probe may remove it
        assert path.is_file(), f"{style}: the lock file itself stays after a crash"
    if style in STALE_STYLES:
        assert path.exists(), f"{style}: a crash must leave the lock behind"
        assert not probe(style, path), f"{style}: a stale lock must still block"
    else:
        assert probe(style, path), f"{style}: the kernel should drop the lock with its holder"


@pytest.mark.parametrize("style", ["mkdir", "pidfile", "exclusive-open"])
def test_release_removes_lock_that_is_a_file_or_dir(
    style: str, tmp_path: Path, lock_holder: LockHolderFactory
) -> None:
    path = tmp_path / "repo.lock"
    holder = lock_holder(style, path)
    assert path.exists()
    holder.release()
    assert not path.exists()


def test_pidfile_holds_the_holder_pid(tmp_path: Path, lock_holder: LockHolderFactory) -> None:
    path = tmp_path / "repo.pid"
    holder = lock_holder("pidfile", path)
    assert path.read_text().strip() == str(holder.pid)


def test_mkdir_lock_is_refreshed_while_held(tmp_path: Path, lock_holder: LockHolderFactory) -> None:
    path = tmp_path / "repo.lock"
    lock_holder("mkdir", path)
    os.utime(path, (1_000_000, 1_000_000))
    deadline = time.monotonic() + 60
    while path.stat().st_mtime <= 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.stat().st_mtime > 1_000_000, "the holder never refreshed the lock dir's mtime"


@pytest.mark.parametrize("style", STYLES)
def test_unsupported_styles_raise_with_a_reason(style: str, tmp_path: Path) -> None:
    reason = unsupported_reason(style)
    if reason is None:
        pytest.skip(f"{style} is supported on {sys.platform}")
    with pytest.raises(UnsupportedLockStyle) as info:
        hold_lock(style, tmp_path / "x.lock")
    assert info.value.reason == reason
    assert sys.platform in str(info.value)


def test_platform_support_matrix() -> None:
    posix_only, windows_only = {"posix", "flock"}, {"windows", "exclusive-open"}
    unsupported = {s for s in STYLES if unsupported_reason(s) is not None}
    assert unsupported == (posix_only if sys.platform == "win32" else windows_only)


def test_unknown_style_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedLockStyle, match="expected one of"):
        hold_lock("fcntl", tmp_path / "x.lock")


def test_fixture_skips_unsupported_style(pytester: pytest.Pytester) -> None:
    style = "flock" if sys.platform == "win32" else "windows"
    pytester.makepyfile(
        f"""
        def test_it(lock_holder, tmp_path):
            lock_holder({style!r}, tmp_path / "x.lock")
        """
    )
    result = pytester.runpytest_subprocess("-rs", "-p", "no:randomly")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"*{style}*not available*"])


def test_fixture_stops_holders_left_held(pytester: pytest.Pytester) -> None:
    pid_file = pytester.path / "pid.txt"
    pytester.makepyfile(
        f"""
        def test_it(lock_holder, tmp_path):
            holder = lock_holder("filelock", tmp_path / "x.lock")
            open({str(pid_file)!r}, "w").write(str(holder.pid))
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1)
    pid = int(pid_file.read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_probe_lock_sees_a_held_lock(tmp_path: Path, lock_holder: LockHolderFactory) -> None:
    path = tmp_path / "repo.lock"
    holder = lock_holder("filelock", path)
    assert probe_lock("filelock", path) is False
    holder.release()
    assert probe_lock("filelock", path) is True


def test_holder_gives_up_on_a_lock_it_cannot_take(tmp_path: Path) -> None:
    path = tmp_path / "repo.lock"
    path.mkdir()  # a stale mkdir lock nobody will remove
    with pytest.raises(LockHolderError, match=r"(?s)exited with status 3.*repo\.lock"):
        hold_lock("mkdir", path, timeout=0.2)


def test_release_twice_is_an_error(tmp_path: Path) -> None:
    with hold_lock("filelock", tmp_path / "x.lock") as holder:
        holder.release()
        with pytest.raises(LockHolderError, match="already released"):
            holder.release()


def test_context_manager_releases(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with hold_lock("pidfile", path) as holder:
        assert path.exists()
    assert not holder.alive
    assert not path.exists()


# --- style "command": the target's own hold command -------------------------------------

# A tool whose lock is a row in a table (as yoyo or Liquibase keep): `hold` inserts
# the row and keeps running until interrupted, `break` deletes the row.
ROW_LOCK_TOOL = """
import signal, sqlite3, sys, time
action, db_path = sys.argv[1], sys.argv[2]
db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
db.execute("CREATE TABLE IF NOT EXISTS lock (id INTEGER PRIMARY KEY, owner TEXT)")
if action == "break":
    db.execute("DELETE FROM lock")
    sys.exit(0)
try:
    db.execute("INSERT INTO lock VALUES (1, 'holder')")
except sqlite3.IntegrityError:
    print("lock row already taken", flush=True)
    sys.exit(1)
def stop(signum, frame):
    db.execute("DELETE FROM lock")
    print("released on signal", flush=True)
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
print("holding the lock row", flush=True)
while True:
    time.sleep(0.1)
"""


def lock_rows(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM lock").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def row_tool(tmp_path: Path) -> list[str]:
    script = tmp_path / "rowlock.py"
    script.write_text(ROW_LOCK_TOOL)
    return [sys.executable, str(script)]


def test_command_style_release_command(
    row_tool: list[str], tmp_path: Path, lock_holder: LockHolderFactory
) -> None:
    db = tmp_path / "state.db"
    holder = lock_holder(
        "command",
        command=[*row_tool, "hold", str(db)],
        ready="holding",
        release_command=[*row_tool, "break", str(db)],
    )
    assert lock_rows(db) == 1
    second = sub.run(
        [*row_tool, "hold", str(db)], capture_output=True, text=True, timeout=60, check=False
    )
    assert second.returncode == 1 and "already taken" in second.stdout
    holder.release()
    assert lock_rows(db) == 0
    assert not holder.alive


@pytest.mark.skipif(sys.platform == "win32", reason="no catchable polite signal on Windows")
def test_command_style_polite_stop_without_release_command(
    row_tool: list[str], tmp_path: Path, lock_holder: LockHolderFactory
) -> None:
    db = tmp_path / "state.db"
    holder = lock_holder("command", command=[*row_tool, "hold", str(db)], ready="holding")
    holder.release()
    assert lock_rows(db) == 0, holder.output
    assert "released on signal" in holder.output


# A hold command that starts a helper in its own process group; both write down each
# polite signal they get and then ignore it, so the stop chain must escalate to the kill.
STUBBORN_GROUP = """
import os, pathlib, signal, subprocess, sys, time
log, role = pathlib.Path(sys.argv[1]), sys.argv[2]
def note(signum, frame):
    with log.open("a") as f:
        f.write(f"{role} {signal.Signals(signum).name}\\n")
signal.signal(signal.SIGINT, note)
signal.signal(signal.SIGTERM, note)
ready = log.with_name("helper-ready")
if role == "leader":
    subprocess.Popen([sys.executable, __file__, str(log), "helper"])
    while not ready.exists():
        time.sleep(0.01)
    print("holding", flush=True)
else:
    # Written whole, then renamed: the leader must never see the file empty.
    ready.with_name("helper-ready.tmp").write_text(str(os.getpid()))
    os.replace(ready.with_name("helper-ready.tmp"), ready)
while True:
    time.sleep(0.1)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals to a process group")
def test_command_style_stop_signals_the_whole_group_within_the_total_grace(
    tmp_path: Path, lock_holder: LockHolderFactory
) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN_GROUP)
    log = tmp_path / "signals.log"
    holder = lock_holder(
        "command", command=[sys.executable, str(script), str(log), "leader"], ready="holding"
    )
    helper = int((tmp_path / "helper-ready").read_text())
    holder.release()
    report = holder.stop_report
    assert report is not None and report.step == "kill", report
    # One meaning of grace, as for a Daemon: the polite steps share it, they do not
    # each get all of it.
    assert [step for step, _ in report.shares] == ["interrupt", "terminate"]
    assert sum(share for _, share in report.shares) == pytest.approx(DEFAULT_GRACE)
    assert sorted(log.read_text().splitlines()) == [
        "helper SIGINT",
        "helper SIGTERM",
        "leader SIGINT",
        "leader SIGTERM",
    ], holder.output
    assert not holder.alive
    assert not psutil.pid_exists(helper) or psutil.Process(helper).status() == "zombie"


def test_command_style_crash_leaves_the_row(
    row_tool: list[str], tmp_path: Path, lock_holder: LockHolderFactory
) -> None:
    db = tmp_path / "state.db"
    holder = lock_holder("command", command=[*row_tool, "hold", str(db)], ready="holding")
    holder.crash()
    assert not holder.alive
    assert lock_rows(db) == 1, "a hard kill must leave the stale lock row"


def test_command_that_exits_before_ready_reports_its_output(
    row_tool: list[str], tmp_path: Path
) -> None:
    db = tmp_path / "state.db"
    with (
        hold_lock("command", command=[*row_tool, "hold", str(db)], ready="holding"),
        pytest.raises(LockHolderError, match=r"(?s)status 1.*already taken"),
    ):
        hold_lock("command", command=[*row_tool, "hold", str(db)], ready="holding")


def test_command_never_ready_is_killed(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    program = (
        f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    )
    with pytest.raises(LockHolderError, match="did not report"):
        hold_lock("command", command=[sys.executable, "-c", program], ready="never", timeout=3)
    pid = int(marker.read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_command_style_needs_command_and_ready() -> None:
    with pytest.raises(ValueError, match="needs command"):
        hold_lock("command", command=["x"])


def test_command_not_on_path_is_named(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path)}
    with pytest.raises(LockHolderError, match="no-such-tool"):
        hold_lock("command", command=["no-such-tool"], ready="x", env=env)


# --- assertions ----------------------------------------------------------------------------


@dataclass
class Ran:
    """A finished real subprocess, with the fields the lock assertions read."""

    returncode: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False

    def describe(self) -> str:
        return f"exit {self.returncode}\n{self.stdout}{self.stderr}"


def run_python(program: str, *args: str) -> Ran:
    started = time.monotonic()
    done = sub.run(
        [sys.executable, "-c", textwrap.dedent(program), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


REFUSE = "import sys; sys.exit('error: repo.lock is held by another process')"


def test_assert_fails_fast_accepts_a_clean_refusal() -> None:
    assert_fails_fast(run_python(REFUSE), within=120, message="repo.lock")


def test_assert_fails_fast_rejects_success() -> None:
    with pytest.raises(AssertionError, match="exited 0"):
        assert_fails_fast(run_python("print('lock ok')"), within=120)


def test_assert_fails_fast_rejects_a_traceback() -> None:
    result = run_python("raise RuntimeError('lock busy')")
    with pytest.raises(AssertionError, match="stack trace"):
        assert_fails_fast(result, within=120)
    assert_fails_fast(result, within=120, allow_traceback=True)


def test_assert_fails_fast_rejects_other_message() -> None:
    with pytest.raises(AssertionError, match="does not match"):
        assert_fails_fast(run_python(REFUSE), within=120, message="(?i)database")


def test_assert_fails_fast_rejects_slow() -> None:
    with pytest.raises(AssertionError, match="more than the allowed 0s"):
        assert_fails_fast(run_python(REFUSE), within=0.0)


def test_assert_fails_fast_rejects_timeout() -> None:
    timed_out = Ran(-9, "", "", 5.0, timed_out=True)
    with pytest.raises(AssertionError, match="timed out"):
        assert_fails_fast(timed_out, within=120)


# A tool that waits for its filelock, then writes into the repo.
WAITING_TOOL = """
print("starting", flush=True)
import pathlib, sys, filelock
lock, repo = sys.argv[1], pathlib.Path(sys.argv[2])
with filelock.FileLock(lock, timeout=120):
    (repo / "migrated").write_text("yes")
"""
IMPATIENT_TOOL = """
print("starting", flush=True)
import pathlib, sys
(pathlib.Path(sys.argv[2]) / "migrated").write_text("yes")
"""
EAGER_TOOL = """
print("starting", flush=True)
import pathlib, sys, filelock
(pathlib.Path(sys.argv[2]) / "scribble").write_text("before the lock")
with filelock.FileLock(sys.argv[1], timeout=120):
    pass
"""
FAILING_TOOL = """
print("starting", flush=True)
import sys, filelock
with filelock.FileLock(sys.argv[1], timeout=120):
    sys.exit("migration failed")
"""


def blocking_run(holder: LockHolder, tool: str, lock: Path, repo: Path) -> object:
    return assert_blocks_until_released(
        holder,
        [sys.executable, "-c", textwrap.dedent(tool), str(lock), str(repo)],
        repo=repo,
        blocked_for=2.0,
        finish_within=120,
        waiting="^starting",
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / "config").write_text("version = 1\n")
    return path


def test_blocks_until_released_accepts_a_waiting_tool(
    repo: Path, lock_holder: LockHolderFactory
) -> None:
    lock = repo.parent / "repo.lock"
    holder = lock_holder("filelock", lock)
    run = blocking_run(holder, WAITING_TOOL, lock, repo)
    assert (repo / "migrated").read_text() == "yes"
    assert holder.state == "released"
    assert "exit status: 0" in run.describe()  # type: ignore[attr-defined]
    assert run.output.startswith("starting")  # type: ignore[attr-defined]


def test_blocks_until_released_rejects_a_tool_that_ignores_the_lock(
    repo: Path, lock_holder: LockHolderFactory
) -> None:
    lock = repo.parent / "repo.lock"
    holder = lock_holder("filelock", lock)
    with pytest.raises(AssertionError, match="should have waited"):
        blocking_run(holder, IMPATIENT_TOOL, lock, repo)


def test_blocks_until_released_rejects_writes_while_held(
    repo: Path, lock_holder: LockHolderFactory
) -> None:
    lock = repo.parent / "repo.lock"
    holder = lock_holder("filelock", lock)
    with pytest.raises(AssertionError, match=r"(?s)added:\s+scribble.*while the lock was held"):
        blocking_run(holder, EAGER_TOOL, lock, repo)


def test_blocks_until_released_rejects_failure_after_release(
    repo: Path, lock_holder: LockHolderFactory
) -> None:
    lock = repo.parent / "repo.lock"
    holder = lock_holder("filelock", lock)
    with pytest.raises(AssertionError, match=r"(?s)failed.*migration failed"):
        blocking_run(holder, FAILING_TOOL, lock, repo)


# --- mechanisms do not interoperate ---------------------------------------------------------


@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="on BSD and macOS flock and fcntl locks share one lock table and do conflict",
)
@pytest.mark.parametrize(("held", "tried"), [("posix", "flock"), ("flock", "posix")])
def test_fcntl_and_flock_do_not_block_each_other_on_linux(
    held: str, tried: str, tmp_path: Path, lock_holder: LockHolderFactory
) -> None:
    """Why a holder must use the tool's own mechanism: on Linux an fcntl record lock
    and a flock on the same file are independent, so the wrong one tests nothing."""
    path = tmp_path / "repo.lock"
    lock_holder(held, path)
    assert not probe(held, path)
    assert probe(tried, path), f"{tried} was blocked by {held}: the kernel now interoperates"


@pytest.mark.parametrize("tried", ["posix", "flock", "windows", "filelock"])
def test_a_lock_by_existence_does_not_block_kernel_locks(
    tried: str, tmp_path: Path, lock_holder: LockHolderFactory
) -> None:
    """A pid file is just a file: a tool that takes a kernel lock on the same name
    opens it and locks it as if nobody held it."""
    skip_unless_supported(tried)
    path = tmp_path / "repo.lock"
    lock_holder("pidfile", path)
    assert not probe("pidfile", path)
    assert probe(tried, path), f"{tried} was blocked by a plain pid file"


def test_assert_fails_fast_takes_a_proc_run_result() -> None:
    from migration_harness.proc import run

    result = run([sys.executable, "-c", REFUSE], timeout=120)
    assert_fails_fast(result, within=120, message=r"repo\.lock is held")
    with pytest.raises(AssertionError, match="does not match"):
        assert_fails_fast(result, within=120, message="nothing like this")


def test_blocks_until_released_needs_the_waiting_line(
    repo: Path, lock_holder: LockHolderFactory
) -> None:
    holder = lock_holder("filelock", repo.parent / "repo.lock")
    with pytest.raises(AssertionError, match="never printed"):
        assert_blocks_until_released(
            holder, [sys.executable, "-c", REFUSE], waiting="^starting", finish_within=120
        )
