"""No process left behind: per-test teardown, --mh-no-orphans, session end, the guardian.

Each case runs an inner pytest session in a subprocess (pytester), so that what
the inner session leaves, or how it dies, cannot touch this one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from migration_harness import proc
from migration_harness.windows import running_under_wine
from tests import sub
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


def _start_inner_session(
    pytester: pytest.Pytester, **popen_kwargs: Any
) -> tuple[subprocess.Popen[bytes], int]:
    pytester.makepyfile(test_hangs=HANGS)
    session = proc.popen(
        [PY, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-q"],
        cwd=pytester.path,
        **popen_kwargs,
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
    # Stoppable: Ctrl+C is heard even when this suite runs with SIGINT ignored.
    session, pid = _start_inner_session(inner, **proc.stoppable_popen_kwargs())
    session.send_signal(signal.SIGINT)
    assert session.wait(120) != 0
    assert gone(pid)


# -- processes that detach, or that were never started through the harness ------------

DETACHERS = """
import os, subprocess, sys

SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]

# Starts a sleeper in a new session (setsid) and exits at once: the sleeper is
# re-parented and leaves the process group of whoever started this script.
DETACH = '''
import subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(600)"],
    start_new_session=True, stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
open(sys.argv[1], "w").write(f"{child.pid}\\\\n")
'''

# A daemon the classic way: fork, setsid, fork again; the grandchild sleeps.
DOUBLE_FORK_DAEMON = '''
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(f"{os.getpid()}\\\\n")
        os.replace(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(600)
    os._exit(0)
while not os.path.exists(sys.argv[1]):  # ready once the grandchild is there
    time.sleep(0.01)
print("ready", flush=True)
time.sleep(600)
'''

def detach(pid_file):
    return [sys.executable, "-c", DETACH, pid_file]
"""


@pytest.fixture
def detachers(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(detachers=DETACHERS)
    pytester.makeini("[pytest]\nmh_no_orphans = true\n")
    return pytester


@POSIX_ONLY
def test_a_double_forked_grandchild_of_a_daemon_is_stopped_with_it(
    detachers: pytest.Pytester,
) -> None:
    # What a daemon starts belongs to the daemon: its stop kills it, not an error.
    detachers.makepyfile(
        test_leaves="""
        import sys
        from detachers import DOUBLE_FORK_DAEMON

        def test_daemon_double_forks(daemon):
            daemon([sys.executable, "-c", DOUBLE_FORK_DAEMON, "gc.pid"], ready="ready")
        """
    )
    result = run_inner(detachers)
    assert gone(read_pid(detachers.path / "gc.pid"))
    result.assert_outcomes(passed=1)


@POSIX_ONLY
def test_a_setsid_grandchild_of_the_run_fixture_errors_and_dies(
    detachers: pytest.Pytester,
) -> None:
    detachers.makepyfile(
        test_leaves="""
        from detachers import detach

        def test_run_detaches(run):
            run(detach("gc.pid")).assert_ok()
        """
    )
    result = run_inner(detachers)
    pid = read_pid(detachers.path / "gc.pid")
    assert gone(pid)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*pid {pid}: *sleep(600)*"])


def test_a_plain_popen_child_of_the_test_errors_and_dies(detachers: pytest.Pytester) -> None:
    detachers.makepyfile(
        test_leaves="""
        import subprocess
        from detachers import SLEEP

        def test_plain_popen():
            child = subprocess.Popen(SLEEP)
            open("child.pid", "w").write(f"{child.pid}\\n")

        def test_clean():
            pass
        """
    )
    result = run_inner(detachers)
    pid = read_pid(detachers.path / "child.pid")
    assert gone(pid)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_plain_popen*", f"*pid {pid}: *sleep(600)*"]
    )


@POSIX_ONLY
def test_a_detached_grandchild_of_subprocess_run_errors_and_dies(
    detachers: pytest.Pytester,
) -> None:
    detachers.makepyfile(
        test_leaves="""
        import subprocess
        from detachers import detach

        def test_subprocess_run_detaches():
            subprocess.run(detach("gc.pid"), check=True)
        """
    )
    result = run_inner(detachers)
    pid = read_pid(detachers.path / "gc.pid")
    assert gone(pid)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*pid {pid}: *sleep(600)*"])


@POSIX_ONLY
def test_without_the_option_detached_processes_are_still_killed(
    detachers: pytest.Pytester,
) -> None:
    detachers.makeini("[pytest]\n")
    detachers.makepyfile(
        test_leaves="""
        import subprocess
        from detachers import detach

        def test_detaches_twice(run):
            subprocess.run(detach("a.pid"), check=True)
            run(detach("b.pid")).assert_ok()
        """
    )
    result = run_inner(detachers)
    result.assert_outcomes(passed=1)
    assert gone(read_pid(detachers.path / "a.pid"))
    assert gone(read_pid(detachers.path / "b.pid"))


def test_a_plain_child_of_a_session_fixture_is_not_a_test_leftover(
    detachers: pytest.Pytester,
) -> None:
    detachers.makepyfile(
        test_session="""
        import subprocess
        import pytest
        from detachers import SLEEP

        @pytest.fixture(scope="session")
        def server():
            child = subprocess.Popen(SLEEP)
            open("server.pid", "w").write(f"{child.pid}\\n")
            return child

        def test_one(server):
            assert server.poll() is None

        def test_two(server):
            assert server.poll() is None
        """
    )
    result = run_inner(detachers)
    result.assert_outcomes(passed=2)
    assert gone(read_pid(detachers.path / "server.pid"))


# -- a migration command that leaves a process behind fails its contract case ---------

SHTOOL_DIR = Path(__file__).parent / "tools" / "shtool"

LEAKY_MIGRATE = """
import os, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(600)"],
    start_new_session=True, stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
with open(os.path.join(here, "pids", str(child.pid)), "w") as f:
    f.write(f"{child.pid}\\n")
sys.exit(subprocess.call(["sh", os.path.join(here, "shtool"), "migrate", *sys.argv[1:]]))
"""


@POSIX_ONLY
def test_check_fails_a_migrate_that_leaves_a_detached_process_and_kills_it(
    tmp_path: Path,
) -> None:
    tool = tmp_path / "tool"
    (tool / "pids").mkdir(parents=True)
    shutil.copy(SHTOOL_DIR / "shtool", tool / "shtool")
    (tool / "leaky.py").write_text(LEAKY_MIGRATE, encoding="utf-8")
    spec = (SHTOOL_DIR / "migration-harness.toml").read_text(encoding="utf-8")
    leaky = f'migrate = [{json.dumps(PY)}, "{{here}}/leaky.py", "{{repo}}", "{{to}}"]'
    spec = re.sub(r"^migrate = .*$", lambda _: leaky, spec, flags=re.M)
    (tool / "migration-harness.toml").write_text(spec, encoding="utf-8")
    try:
        result = sub.run(
            [
                PY,
                "-m",
                "migration_harness",
                "check",
                "--config",
                str(tool / "migration-harness.toml"),
                "--contract",
                "forward",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=600,
        )
        pids = [read_pid(path) for path in (tool / "pids").iterdir()]
        assert pids
        assert all(gone(pid) for pid in pids), "left running after check exited"
    finally:
        for path in (tool / "pids").iterdir():
            proc.kill_tree(read_pid(path))
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr
    assert "check: FAILED" in result.stdout or "broke forward" in result.stdout, result.stdout
    assert re.search(
        rf"pid ({'|'.join(map(str, pids))}): \S*python\S* -c import time", result.stdout
    )
    assert "left 1 process running" in result.stdout


@pytest.mark.skipif(sys.platform != "win32", reason="Windows Job Objects")
@pytest.mark.parametrize("how", ["harness", "plain"])
def test_a_job_object_kills_what_an_interpreter_started_when_it_dies(how: str) -> None:
    # os._exit: no atexit, no sweep, and no guardian (plain library use). Only the
    # kill-on-close Job Object can end the sleeper, also one started without the harness.
    start = {
        "harness": "from migration_harness.proc import popen as start\n",
        "plain": "from migration_harness.proc import _track\n"
        "from subprocess import Popen as start\n"
        "assert _track.adopt_descendants()\n",
    }[how]
    code = (
        f"import os, sys\n{start}"
        "child = start([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(child.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    out = sub.run([PY, "-c", code], capture_output=True, text=True, timeout=300)
    pid = int(out.stdout.split()[0])
    try:
        assert gone(pid), out.stderr
    finally:
        proc.kill_tree(pid)


def test_the_windows_side_imports_and_degrades_off_windows() -> None:
    from migration_harness.proc import _windows

    child = sub.Popen([PY, "-c", "pass"])
    try:
        assert _windows.contain(child) is (sys.platform == "win32" and bool(_windows._job))
    finally:
        child.wait(60)


@pytest.mark.skipif(sys.platform != "win32", reason="Windows keeps a dead parent's pid")
def test_a_process_whose_start_time_is_unknown_claims_no_stranger_by_parent_id() -> None:
    # A stranger: started without the run's marker by a parent that then exits. Windows
    # keeps the dead parent's pid as the stranger's parent id (as Wine's services keep the
    # pid of the wineboot that started them), and a pid may be ours again later.
    from migration_harness.proc import _track, _windows
    from migration_harness.proc._marker import MARKER_ENV

    env = {k: v for k, v in os.environ.items() if k != MARKER_ENV}
    code = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(child.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = sub.Popen([PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert parent.stdout is not None and parent.stdin is not None
    stranger = int(parent.stdout.readline())
    try:
        started = psutil.Process(parent.pid).create_time()
        parent.stdin.close()
        parent.wait(60)
        # The open handle keeps the pid; it also answers once psutil cannot.
        by_handle = _windows.popen_create_time(parent)
        assert by_handle is not None
        assert abs(by_handle - started) <= _track.CREATE_TIME_SLACK
        known = _track.TrackedProcess(pid=parent.pid, create_time=by_handle)
        unknown = known._replace(create_time=_track.UNKNOWN_CREATE_TIME)
        assert stranger in [p.pid for p in _track.family(known)]
        assert stranger not in [p.pid for p in _track.family(unknown)]
    finally:
        proc.kill_tree(stranger)
        parent.wait(60)


# A tree with a child started from a second thread (listed under that thread, not the
# main one) and a grandchild; it writes "ready" once all three run.
TREE = """
import subprocess, sys, threading, time
sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
middle = [
    sys.executable, "-c", f"import subprocess, time; subprocess.Popen({sleep!r}); time.sleep(600)"
]
def from_a_thread():
    subprocess.Popen(middle)
    time.sleep(600)
threading.Thread(target=from_a_thread, daemon=True).start()
subprocess.Popen(sleep)
time.sleep(600)
"""


def test_children_and_descendants_are_those_of_every_thread() -> None:
    from migration_harness.proc import _track

    platform = _track._platform
    root = proc.popen([PY, "-c", TREE])
    try:
        leader = psutil.Process(root.pid)
        deadline = time.monotonic() + 120
        while len(leader.children(recursive=True)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        expected = {p.pid for p in leader.children(recursive=True)}
        assert len(expected) == 3
        assert {p.pid for p in platform.descendants(leader)} == expected
        direct = {p.pid for p in leader.children()}
        assert len(direct) == 2
        assert {p.pid for p in platform.children(leader)} == direct
        if sys.platform.startswith("linux"):
            assert platform._children_listed(), "the kernel's children lists were not used"
    finally:
        proc.kill_tree(root.pid)
        root.wait()
    assert platform.descendants(leader) == []
    assert platform.children(leader) == []


def test_a_session_leaves_no_registry_file_behind(inner: pytest.Pytester) -> None:
    # The guardian's list of processes lives in the temp dir for the session and goes with
    # it. Windows cannot delete a file another process still has open, so the session
    # closes its end first.
    inner.makepyfile(
        test_starts="""
        import glob, os
        from sleeper import start_sleeper

        def test_starts_and_stops_a_process():
            child = start_sleeper("a.pid")
            child.kill()
            child.wait()
            assert glob.glob(os.path.join(os.environ["TMPDIR"], "mh-procs-*"))
        """
    )
    temp = inner.path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "TEMP": str(temp), "TMP": str(temp)}
    result = sub.run(
        [PY, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-q"],
        cwd=inner.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout
    assert sorted(p.name for p in temp.iterdir()) == []
