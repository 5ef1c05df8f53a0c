"""No process left behind: per-test teardown, --mh-no-orphans, session end, the guardian.

Each case runs an inner pytest session in a subprocess (pytester), so that what
the inner session leaves, or how it dies, cannot touch this one.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest

from migration_harness import proc
from migration_harness.windows import running_under_wine
from tests.procwait import gone, guardians_finished, read_pid

PY = sys.executable
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

LEAVE_A_SLEEPER = """
import sys
from migration_harness import proc

def start_sleeper(pid_file):
    child = proc.popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(pid_file, "w") as f:
        f.write(f"{child.pid}\\n")
    return child
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(sleeper=LEAVE_A_SLEEPER)
    return pytester


def run_inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", *args)


def test_a_leftover_is_killed_at_teardown_even_without_the_option(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_leaves="""
        import psutil
        from sleeper import start_sleeper

        def test_a_leaves_a_sleeper():
            start_sleeper("a.pid")

        def test_b_finds_it_gone():
            pid = int(open("a.pid").read())
            try:
                assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                pass
        """
    )
    result = run_inner(inner)
    result.assert_outcomes(passed=2)


def test_the_option_errors_the_test_that_left_a_process_naming_it(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_leaves="""
        from sleeper import start_sleeper

        def test_leaves_a_sleeper():
            start_sleeper("a.pid")

        def test_clean():
            pass
        """
    )
    result = run_inner(inner, "--mh-no-orphans")
    result.assert_outcomes(passed=2, errors=1)
    pid = read_pid(inner.path / "a.pid")
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaves_a_sleeper*",
            "*the test left 1 process running*",
            f"*pid {pid}: *time.sleep(600)*",
        ]
    )
    assert gone(pid)


def test_the_ini_option_turns_the_check_on(inner: pytest.Pytester) -> None:
    inner.makeini("[pytest]\nmh_no_orphans = true\n")
    inner.makepyfile(
        test_leaves="""
        from sleeper import start_sleeper

        def test_leaves_a_sleeper():
            start_sleeper("a.pid")
        """
    )
    result = run_inner(inner)
    result.assert_outcomes(passed=1, errors=1)


def test_a_background_grandchild_of_run_is_a_leftover(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_leaves="""
        import sys
        from migration_harness import proc

        SPAWN = '''
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        open("grandchild.pid", "w").write(f"{child.pid}\\\\n")
        '''

        def test_runs_a_tool_that_daemonizes():
            assert proc.run([sys.executable, "-c", SPAWN]).ok
        """
    )
    result = run_inner(inner, "--mh-no-orphans")
    result.assert_outcomes(passed=1, errors=1)
    pid = read_pid(inner.path / "grandchild.pid")
    result.stdout.fnmatch_lines([f"*pid {pid}: *time.sleep(600)*"])
    assert gone(pid)


def test_a_session_fixture_process_is_not_a_test_leftover(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_session="""
        import pytest
        from sleeper import start_sleeper

        @pytest.fixture(scope="session")
        def server():
            return start_sleeper("session.pid")

        def test_one(server):
            assert server.poll() is None

        def test_two(server):
            assert server.poll() is None
        """
    )
    result = run_inner(inner, "--mh-no-orphans")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*killed 1 process(es) still running at session end*"])
    assert gone(read_pid(inner.path / "session.pid"))


HANGS = """
import time
from sleeper import start_sleeper

def test_hangs():
    start_sleeper("hang.pid")
    time.sleep(600)
"""


@pytest.mark.parametrize(
    "method",
    [
        "thread",
        pytest.param("signal", marks=POSIX_ONLY),
    ],
)
def test_processes_are_swept_after_a_pytest_timeout(inner: pytest.Pytester, method: str) -> None:
    # The thread method ends the interpreter with os._exit(): no teardown, no
    # atexit. Only the guardian process can clean up then.
    inner.makepyfile(test_hangs=HANGS)
    result = run_inner(inner, "--timeout=5", "-o", f"timeout_method={method}")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*Timeout*"])
    assert gone(read_pid(inner.path / "hang.pid"))
    assert guardians_finished()


def _start_inner_session(pytester: pytest.Pytester) -> tuple[subprocess.Popen[bytes], int]:
    pytester.makepyfile(test_hangs=HANGS)
    session = proc.popen(
        [PY, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-q"],
        cwd=pytester.path,
    )
    return session, read_pid(pytester.path / "hang.pid")


@pytest.mark.skipif(
    running_under_wine(),
    reason="under Wine the guardian outlives the test's teardown check after a hard kill",
)
def test_the_guardian_sweeps_after_the_session_is_killed_hard(inner: pytest.Pytester) -> None:
    session, pid = _start_inner_session(inner)
    psutil.Process(session.pid).kill()
    session.wait(60)
    assert gone(pid)
    assert guardians_finished()


@POSIX_ONLY
def test_processes_are_swept_after_ctrl_c(inner: pytest.Pytester) -> None:
    session, pid = _start_inner_session(inner)
    session.send_signal(signal.SIGINT)
    assert session.wait(120) != 0
    assert gone(pid)
