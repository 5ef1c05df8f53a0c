"""Crash runs (``run_watched``) start, read and kill their processes through ``proc``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from migration_harness import proc
from migration_harness.crash._exec import run_watched
from migration_harness.proc import _track
from tests.procwait import gone, read_pid

PY = sys.executable

# Starts a sleeper that leaves its parent's session and is no longer its descendant
# (its parent exits at once), writes the sleeper's pid, then sleeps itself.
DETACH_A_SLEEPER = """
import subprocess, sys, time
middle = (
    "import subprocess, sys; "
    "s = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], "
    "start_new_session=True); "
    f"open({sys.argv[1]!r}, 'w').write(f'{{s.pid}}\\\\n')"
)
subprocess.run([sys.executable, "-c", middle], check=True)
print("detached", flush=True)
if sys.argv[2] == "stay":
    time.sleep(600)
"""


def detacher(tmp_path: Path, then: str) -> list[str]:
    script = tmp_path / "detach.py"
    script.write_text(textwrap.dedent(DETACH_A_SLEEPER))
    return [PY, str(script), str(tmp_path / "sleeper.pid"), then]


def test_the_running_command_is_tracked_for_the_orphan_sweep(tmp_path: Path) -> None:
    seen: list[bool] = []

    def watcher(running: subprocess.Popen[bytes], elapsed: float) -> bool:
        seen.append(running.pid in {entry.pid for entry in _track.all_entries()})
        return True  # crash at once

    run = run_watched(
        [PY, "-c", "import time; time.sleep(600)"],
        env=None,
        cwd=tmp_path,
        timeout=120,
        watcher=watcher,
    )
    assert seen == [True]
    assert run.killed and not run.timed_out


def test_a_crash_kills_what_the_command_detached(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"

    def crash_once_detached(running: subprocess.Popen[bytes], elapsed: float) -> bool:
        return pid_file.exists() and pid_file.read_text().endswith("\n")

    run = run_watched(
        detacher(tmp_path, "stay"), env=None, cwd=tmp_path, timeout=120, watcher=crash_once_detached
    )
    assert run.killed, run.result.describe()
    sleeper = read_pid(pid_file)
    assert gone(sleeper, bound=10.0), f"the detached sleeper {sleeper} survived the crash"


def test_what_a_finished_run_left_running_is_named_and_killed(tmp_path: Path) -> None:
    run = run_watched(detacher(tmp_path, "exit"), env=None, cwd=tmp_path, timeout=120)
    assert run.result.ok and not run.killed, run.result.describe()
    sleeper = read_pid(tmp_path / "sleeper.pid")
    assert [leftover.pid for leftover in run.result.left_running] == [sleeper]
    assert gone(sleeper, bound=10.0), f"the detached sleeper {sleeper} outlived the run"


def test_a_crash_run_reports_its_environment_as_proc_run_does(tmp_path: Path) -> None:
    env = dict(os.environ, MH_CRASH_RUN_VAR="set")
    env.pop(next(iter(os.environ)))
    command = [PY, "-c", "print('hi')"]
    crashed = run_watched(command, env=env, cwd=tmp_path, timeout=120).result
    ran = proc.run(command, env=env, cwd=tmp_path, timeout=120)
    assert crashed.env_diff == ran.env_diff
    assert crashed.args == ran.args and crashed.stdout == ran.stdout == "hi\n"
