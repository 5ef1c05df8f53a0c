"""migration_harness.proc.run / popen / kill_tree with real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from migration_harness import proc
from migration_harness.env import ExecutableNotFound, IsolatedEnv
from migration_harness.fixtures import Runner
from migration_harness.proc._run import env_diff
from migration_harness.windows import running_under_wine
from tests import sub
from tests.procwait import gone, read_pid

PY = sys.executable
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups / scripts")


def python(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def test_run_captures_both_streams_and_the_exit_code() -> None:
    result = proc.run(
        python("""
        import sys
        print("to stdout")
        print("to stderr", file=sys.stderr)
        sys.exit(3)
        """)
    )
    assert result.returncode == 3
    assert result.stdout == "to stdout\n"
    assert result.stderr == "to stderr\n"
    assert not result.ok
    assert not result.timed_out
    assert result.output == "to stdout\nto stderr\n"


def test_a_nonzero_exit_is_a_result_not_an_exception() -> None:
    result = proc.run(python("raise SystemExit(7)"))
    assert result.returncode == 7
    with pytest.raises(AssertionError, match="exit code 7"):
        result.assert_ok()


def test_megabytes_on_both_streams_do_not_deadlock() -> None:
    # Far more than a pipe holds (64 KiB) on both streams, written in turn, so a reader
    # that drained one stream at a time would deadlock.
    size = 4 * 1024 * 1024
    result = proc.run(
        python(f"""
        import sys
        block = "x" * 65535 + "\\n"
        for _ in range({size} // 65536):
            sys.stdout.write(block)
            sys.stderr.write(block.upper())
        """),
        timeout=120,
    )
    assert result.ok, result.describe()
    assert set(result.stdout) == {"x", "\n"}
    assert set(result.stderr) == {"X", "\n"}
    if running_under_wine():
        # Wine's own pipe code drops data now and then under load ("wine client error:
        # partial write"; seen at 4 MiB and at 1 MiB: whole 64 KiB blocks missing while
        # the writer exits 0), so under Wine only the absence of a deadlock is checked.
        # Windows itself (the GitHub Actions leg) and POSIX check every byte.
        assert len(result.stdout) > 16 * 65536 and len(result.stderr) > 16 * 65536
        return
    assert len(result.stdout) == size
    assert len(result.stderr) == size


def test_input_is_fed_to_stdin_as_bytes_or_text() -> None:
    echo = python("import sys; sys.stdout.write(sys.stdin.read().upper())")
    assert proc.run(echo, input="hello").stdout == "HELLO"
    assert proc.run(echo, input=b"bytes\n").stdout == "BYTES\n"


def test_timeout_kills_the_whole_tree_and_says_so(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    result = proc.run(
        python(f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open({str(pid_file)!r}, "w") as f:
            f.write(f"{{child.pid}}\\n")
        print("spawned", flush=True)
        time.sleep(600)
        """),
        timeout=5,
    )
    assert result.timed_out
    assert not result.ok
    assert result.stdout == "spawned\n"
    assert gone(read_pid(pid_file))
    description = result.describe()
    assert "timed out after 5 s" in description
    assert "process tree was killed" in description


def test_describe_shows_command_cwd_env_differences_and_output_tails(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["MH_ADDED_VAR"] = "added value"
    removed = next(iter(os.environ))
    del env[removed]
    result = proc.run(
        python("""
        import sys
        for i in range(100):
            print(f"out line {i}")
        print("the error", file=sys.stderr)
        sys.exit(1)
        """),
        env=env,
        cwd=tmp_path,
    )
    assert result.env_diff == {"MH_ADDED_VAR": "added value", removed: None}
    text = result.describe()
    assert f"cwd: {tmp_path}" in text
    assert PY in text.splitlines()[0]
    assert "+MH_ADDED_VAR=added value" in text
    assert f"-{removed} (removed)" in text
    assert "exit code 1" in text
    assert "out line 99" in text
    assert "out line 60" in text
    assert "out line 59\n" not in text  # only the last 40 lines
    assert "last 40 of 100 lines" in text
    assert "the error" in text


def test_line_matching_passes_and_fails_with_the_description() -> None:
    result = proc.run(python("print('alpha 1'); print('beta 2'); import sys; sys.exit(4)"))
    result.fnmatch_lines(["alpha *", "beta ?"])
    result.re_match_lines([r"alpha \d", r"beta \d"], stream="stdout")
    with pytest.raises(AssertionError) as info:
        result.fnmatch_lines(["gamma*"])
    message = str(info.value)
    assert "gamma*" in message
    assert "exit code 4" in message
    assert "alpha 1" in message
    with pytest.raises(AssertionError):
        result.re_match_lines([r"alpha \d"], stream="stderr")


def test_a_bare_name_is_found_on_the_given_env_path_only(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if sys.platform == "win32":
        tool = bin_dir / "mh-tool.bat"
        tool.write_text("@echo from the env path\r\n")
    else:
        tool = bin_dir / "mh-tool"
        tool.write_text("#!/bin/sh\necho from the env path\n")
        tool.chmod(0o755)
    env = dict(os.environ, PATH=str(bin_dir))
    result = proc.run(["mh-tool"], env=env)
    assert result.ok, result.describe()
    assert result.stdout.strip() == "from the env path"
    with pytest.raises(ExecutableNotFound, match="mh-tool"):
        proc.run(["mh-tool"], env=dict(os.environ, PATH=str(tmp_path)))


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(ValueError, match="no command"):
        proc.run([])


@POSIX_ONLY
def test_popen_puts_the_child_in_its_own_process_group() -> None:
    child = proc.popen(python("import time; time.sleep(600)"))
    try:
        assert os.getpgid(child.pid) == child.pid
        assert os.getpgid(child.pid) != os.getpgid(0)
    finally:
        proc.kill_tree(child.pid)
    assert child.wait(60) != 0


def test_kill_tree_finds_grandchildren_after_their_parent_exited(tmp_path: Path) -> None:
    pid_file = tmp_path / "orphan.pid"
    parent = proc.popen(
        python(f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open({str(pid_file)!r}, "w") as f:
            f.write(f"{{child.pid}}\\n")
        """)
    )
    assert parent.wait(60) == 0
    orphan = read_pid(pid_file)
    assert psutil.pid_exists(orphan)
    proc.kill_tree(parent.pid)
    assert gone(orphan)


def test_kill_tree_of_a_finished_pid_is_not_an_error() -> None:
    child = proc.popen(python("pass"))
    child.wait(60)
    proc.kill_tree(child.pid)
    assert child.returncode == 0


def test_the_run_fixture_uses_the_isolated_env(run: Runner, isolated_env: IsolatedEnv) -> None:
    isolated_env.set("MH_FIXTURE_VAR", "from isolated_env")
    result = run(python("import os; print(os.environ['MH_FIXTURE_VAR'])"))
    assert result.stdout == "from isolated_env\n"
    assert "MH_FIXTURE_VAR" not in os.environ


@POSIX_ONLY
@pytest.mark.parametrize("holds_stdout", [True, False], ids=["holds-stdout", "devnull"])
def test_a_detached_child_left_running_is_named_and_not_waited_for(
    tmp_path: Path, holds_stdout: bool
) -> None:
    pid_file = tmp_path / "bg.pid"
    out = "None" if holds_stdout else "subprocess.DEVNULL"
    result = proc.run(
        python(f"""
        import subprocess, sys
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"],
            start_new_session=True, stdout={out}, stderr={out},
        )
        open({str(pid_file)!r}, "w").write(f"{{child.pid}}\\n")
        print("migrated")
        """)
    )
    pid = read_pid(pid_file)
    try:
        assert result.ok and result.stdout == "migrated\n"
        assert [leftover.pid for leftover in result.left_running] == [pid]
        # run() returned while the holder still runs: it did not wait for the pipe.
        assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        assert f"pid {pid}: " in result.describe()
    finally:
        proc.kill_tree(pid)
    assert gone(pid)


def test_a_command_that_leaves_nothing_running_says_so() -> None:
    assert proc.run(python("print('done')")).left_running == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux child subreaper")
def test_the_session_adopts_detached_descendants_and_reaps_them(tmp_path: Path) -> None:
    from migration_harness.proc import _track

    pid_file = tmp_path / "gc.pid"
    detach = python(f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 start_new_session=True)
        open({str(pid_file)!r}, "w").write(f"{{child.pid}}\\n")
        """)
    sub.run(detach, check=True)
    pid = read_pid(pid_file)
    try:
        assert psutil.Process(pid).ppid() == os.getpid()  # re-parented to us, not to init
    finally:
        _track.kill([psutil.Process(pid)])
    assert not psutil.pid_exists(pid) or gone(pid)
    _track.reap_orphans()
    assert not psutil.pid_exists(pid)


@POSIX_ONLY
def test_reaping_orphans_leaves_a_popen_child_its_exit_status() -> None:
    from migration_harness.proc import _track

    child = sub.Popen([PY, "-c", "raise SystemExit(7)"])
    assert gone(child.pid)  # a zombie now: exited, not yet waited for
    _track.reap_orphans()
    assert child.wait(60) == 7


@POSIX_ONLY
def test_reaping_orphans_leaves_a_popen_subclass_child_its_exit_status() -> None:
    from migration_harness.proc import _track

    class Named(subprocess.Popen[bytes]):
        pass

    child = Named([PY, "-c", "raise SystemExit(5)"])
    assert gone(child.pid)
    _track.reap_orphans()
    assert child.wait(60) == 5


def test_looking_for_popen_children_is_safe_beside_a_thread_building_tuples() -> None:
    # CPython grows tuple(generator) in place and refuses (SystemError) if anything else
    # holds a reference to it meanwhile: a scan holding every object (gc.get_objects)
    # broke a crash lane's trace parsing that way within a few scans.
    import threading

    from migration_harness.proc import _track

    stop = threading.Event()
    errors: list[BaseException] = []

    def build_tuples() -> None:
        try:
            while not stop.is_set():
                tuple(str(i) for i in range(200))
        except SystemError as exc:
            errors.append(exc)

    builder = threading.Thread(target=build_tuples)
    builder.start()
    try:
        for _ in range(300):
            _track._waited_for_elsewhere()
    finally:
        stop.set()
        builder.join()
    assert errors == []


def test_env_diff_folds_case_on_windows_only() -> None:
    base = {"PATH": "/bin", "Home": "/h", "GONE": "x"}
    env = {"Path": "/bin", "HOME": "/elsewhere", "NEW": "1"}
    assert env_diff(env, base, windows=True) == {"GONE": None, "HOME": "/elsewhere", "NEW": "1"}
    assert env_diff(env, base, windows=False) == {
        "GONE": None,
        "HOME": "/elsewhere",
        "Home": None,
        "NEW": "1",
        "PATH": None,
        "Path": "/bin",
    }
    assert env_diff(None, base, windows=True) == {}


def test_env_diff_defaults_to_this_os_and_this_environment() -> None:
    env = dict(os.environ, MH_ENV_DIFF_VAR="1")
    assert env_diff(env) == env_diff(env, os.environ, windows=sys.platform == "win32")
    assert env_diff(env) == {"MH_ENV_DIFF_VAR": "1"}


@pytest.mark.parametrize(
    ("returncode", "note"),
    [
        (3, "exit code 3\n"),
        (-9, "exit code -9\n"),
        (0xC0000142, "exit code 3221225794 (0xC0000142: a Windows status code;"),
    ],
)
def test_a_windows_status_code_reads_in_hex(returncode: int, note: str) -> None:
    result = proc.RunResult(
        args=["tool"], cwd=".", env_diff={}, returncode=returncode, stdout="", stderr="",
        duration=0.1,
    )  # fmt: skip
    assert note in result.describe() + "\n"


def test_wait_returns_at_exit_and_times_out_like_popen_wait() -> None:
    from migration_harness.proc import _track

    quick = proc.popen([sys.executable, "-c", "raise SystemExit(3)"])
    _track.wait(quick, 600.0)
    assert quick.returncode == 3
    _track.wait(quick, 600.0)  # waiting again for an exited process returns at once
    slow = proc.popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        with pytest.raises(subprocess.TimeoutExpired) as expired:
            _track.wait(slow, 0.2)
        assert expired.value.timeout == 0.2
        assert slow.returncode is None
    finally:
        proc.kill_tree(slow.pid)
        slow.wait()
