"""migration_harness.proc.start_together: N commands released through one barrier."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from migration_harness import proc
from migration_harness.env import ExecutableNotFound

PY = sys.executable

# Each command records the moment it started doing work, first thing.
WORK = """
import time
work_started = time.time()
import psutil
print(repr(work_started), repr(psutil.Process().create_time()), flush=True)
"""


def test_every_command_starts_work_only_after_the_release() -> None:
    results = proc.start_together([[PY, "-c", WORK]] * 4, timeout=120)
    assert len(results) == 4
    for result in results:
        assert result.ok, result.describe()
        assert result.released_at is not None
        work_started, _ = (float(x) for x in result.stdout.split())
        assert work_started >= result.released_at
        assert result.release_skew is not None and result.release_skew >= -0.01
    assert len({r.released_at for r in results}) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="execv keeps the pid only on POSIX")
def test_every_command_was_already_running_and_waiting_before_the_release() -> None:
    results = proc.start_together([[PY, "-c", WORK]] * 4, timeout=120)
    for result in results:
        assert result.released_at is not None
        _, process_created = (float(x) for x in result.stdout.split())
        # Same pid as its launcher (execv): it existed before the release.
        assert process_created <= result.released_at


def test_results_keep_the_order_and_exit_code_of_each_command() -> None:
    commands = [[PY, "-c", f"import sys; print({i}); sys.exit({i})"] for i in range(3)]
    results = proc.start_together(commands, timeout=120)
    assert [r.returncode for r in results] == [0, 1, 2]
    assert [r.stdout for r in results] == ["0\n", "1\n", "2\n"]
    assert [r.args for r in results] == commands


def test_env_and_cwd_are_given_to_every_command(tmp_path: Path) -> None:
    env = dict(os.environ, MH_BARRIER_VAR="shared")
    code = "import os; print(os.environ['MH_BARRIER_VAR'], os.getcwd())"
    results = proc.start_together([[PY, "-c", code]] * 2, env=env, cwd=tmp_path, timeout=120)
    for result in results:
        var, cwd = result.stdout.split()
        assert var == "shared"
        assert os.path.samefile(cwd, tmp_path)
        assert result.env_diff == {"MH_BARRIER_VAR": "shared"}


def test_a_command_still_running_at_the_timeout_is_killed_and_reported() -> None:
    quick = [PY, "-c", "print('quick')"]
    stuck = [PY, "-c", "import time; time.sleep(600)"]
    results = proc.start_together([quick, stuck], timeout=5)
    assert results[0].ok and results[0].stdout == "quick\n"
    assert results[1].timed_out
    assert not results[1].ok


def test_a_missing_executable_fails_before_anything_starts(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path))
    with pytest.raises(ExecutableNotFound, match="mh-no-such-tool"):
        proc.start_together([[PY, "-c", "pass"], ["mh-no-such-tool"]], env=env)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX execv failure path")
def test_a_command_that_cannot_be_executed_reports_it(tmp_path: Path) -> None:
    not_executable = tmp_path / "tool"
    not_executable.write_text("not a program")
    results = proc.start_together([[str(not_executable)]], timeout=120)
    assert results[0].returncode == 127
    assert "cannot run" in results[0].stderr


def test_no_commands_no_results() -> None:
    assert proc.start_together([]) == []
