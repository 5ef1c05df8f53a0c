"""migration_harness.proc.Daemon: readiness, early exit, start timeout, the graceful stop chain."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from migration_harness import proc
from migration_harness.fixtures import DaemonFactory
from migration_harness.proc import (
    Daemon,
    DaemonStartError,
    ReadyFile,
    ReadyLine,
    ReadyPort,
    ReadyWhen,
)
from migration_harness.windows import running_under_wine
from tests.procwait import gone

PY = sys.executable
#: For daemons that stop at a polite step: the bound only matters when broken.
WIDE_GRACE = 60.0
WINE_NO_CTRL_BREAK = (
    "Wine 8 cannot deliver CTRL_BREAK_EVENT: its wineserver implements only "
    "CTRL_C_EVENT, GenerateConsoleCtrlEvent fails (runs on real Windows)"
)


def script(tmp_path: Path, code: str, name: str = "daemon.py") -> list[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return [PY, "-u", str(path)]


SLEEPER = """
import sys, time
{before}
while True:
    time.sleep(0.05)
"""


ON_STDOUT = 'print("ready on stdout", flush=True)'
ON_STDERR = 'print("ready on stderr", file=sys.stderr, flush=True)'


@pytest.mark.parametrize(
    ("stream", "printed", "expected"),
    [
        # the other stream's line comes first and must be skipped
        ("stdout", [ON_STDERR, ON_STDOUT], "ready on stdout"),
        ("stderr", [ON_STDOUT, ON_STDERR], "ready on stderr"),
        # "any" reads both: one line on either is enough (one at a time, so no race
        # between the two readers decides which line wins)
        ("any", [ON_STDERR], "ready on stderr"),
        ("any", [ON_STDOUT], "ready on stdout"),
    ],
)
def test_ready_line_on_the_chosen_stream(
    tmp_path: Path, stream: str, printed: list[str], expected: str
) -> None:
    before = "\n".join(printed)
    ready = ReadyLine(r"^ready on", stream=stream)  # type: ignore[arg-type]
    with Daemon(script(tmp_path, SLEEPER.format(before=before)), ready=ready) as daemon:
        assert daemon.is_running()
        assert ready.matched == expected


def test_a_ready_line_split_across_writes_is_matched_whole(tmp_path: Path) -> None:
    before = """
for part in ["Daemon ", "is re", "ady on port 12", "34\\n"]:
    sys.stdout.write(part)
    sys.stdout.flush()
    time.sleep(0.15)
"""
    ready = ReadyLine(r"^Daemon is ready on port (\d+)$")
    with Daemon(script(tmp_path, SLEEPER.format(before=before)), ready=ready):
        assert ready.matched == "Daemon is ready on port 1234"


def test_an_unterminated_line_is_shown_in_a_start_error(tmp_path: Path) -> None:
    # It exits rather than waiting out a start timeout: a short timeout could pass before
    # a loaded machine even starts the interpreter, and the line would not be there yet.
    code = 'import sys; sys.stdout.write("half a line"); sys.stdout.flush(); sys.exit(4)'
    daemon = Daemon(script(tmp_path, code), ready="x", start_timeout=3600)
    with pytest.raises(DaemonStartError, match="half a line"):
        daemon.start()


def test_ready_port(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = f"""
import socket
time.sleep(0.3)
server = socket.create_server(("127.0.0.1", {port}))
print("bound", flush=True)
"""
    with Daemon(script(tmp_path, SLEEPER.format(before=before)), ready=ReadyPort(port)) as daemon:
        assert daemon.is_running()
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass


def test_ready_file(tmp_path: Path) -> None:
    marker = tmp_path / "daemon.ready"
    before = f"time.sleep(0.3); open({str(marker)!r}, 'w').close()"
    with Daemon(script(tmp_path, SLEEPER.format(before=before)), ready=ReadyFile(marker)):
        assert marker.exists()


def test_ready_when_a_callable_says_so(tmp_path: Path) -> None:
    state = tmp_path / "state"
    before = f"""
for n in range(3):
    open({str(state)!r}, "w").write(str(n))
    time.sleep(0.1)
"""
    seen: list[str] = []

    def reached_two() -> bool:
        text = state.read_text()  # FileNotFoundError (an OSError) means "not yet"
        seen.append(text)
        return text == "2"

    with Daemon(script(tmp_path, SLEEPER.format(before=before)), ready=ReadyWhen(reached_two)):
        assert seen[-1] == "2"


def test_early_exit_is_reported_at_once_with_the_output(tmp_path: Path) -> None:
    code = """
import sys
print("loading config", flush=True)
print("fatal: repo is locked", file=sys.stderr, flush=True)
sys.exit(3)
"""
    # start_timeout is huge: only detecting the exit can end start() with this message.
    daemon = Daemon(script(tmp_path, code), ready="never printed", start_timeout=3600)
    with pytest.raises(DaemonStartError) as info:
        daemon.start()
    message = str(info.value)
    assert "exited with code 3 before it was ready" in message
    assert "fatal: repo is locked" in message
    assert "loading config" in message
    assert info.value.returncode == 3
    assert not daemon.is_running()


def test_start_timeout_stops_the_daemon_and_shows_its_output(tmp_path: Path) -> None:
    before = 'print("still starting", flush=True)'
    # 5 s: the daemon's interpreter must start and print its line before the timeout,
    # which a loaded 2-core machine does well within that (tens of ms when quiet).
    daemon = Daemon(
        script(tmp_path, SLEEPER.format(before=before)), ready="never", start_timeout=5.0
    )
    with pytest.raises(DaemonStartError, match=r"not ready after 5.0 s") as info:
        daemon.start()
    assert "still starting" in info.value.output
    assert "a line of output matching 'never'" in str(info.value)
    assert gone(daemon.pid)


def test_a_daemon_with_a_keyboardinterrupt_handler_ends_at_the_interrupt_step(
    tmp_path: Path,
) -> None:
    # SIGINT to its process group on POSIX, Ctrl+C to its own console on Windows
    # (and under Wine): Python turns either into KeyboardInterrupt.
    code = """
import sys, time
try:
    print("up", flush=True)  # inside the try: the stop may come right after this line
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    print("clean shutdown", flush=True)
    sys.exit(0)
"""
    daemon = Daemon(script(tmp_path, code), ready="up", grace=WIDE_GRACE).start()
    report = daemon.stop()
    assert report.step == "interrupt", report
    assert report.returncode == 0
    assert "clean shutdown" in daemon.output
    assert report.notes == ()


def test_the_interrupt_reaches_what_the_daemon_started(tmp_path: Path) -> None:
    # Like a terminal's Ctrl+C: the whole process group (POSIX) or every process on
    # the daemon's console (Windows) gets it, not only the daemon.
    marker = tmp_path / "child-interrupted"
    child = f"""
import time
try:
    print("child up", flush=True)
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    open({str(marker)!r}, "w").close()
"""
    code = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {child!r}], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
try:
    print("up", flush=True)  # inside the try: the stop may come right after this line
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    sys.exit(child.wait())
"""
    daemon = Daemon(script(tmp_path, code), ready="up", grace=WIDE_GRACE).start()
    report = daemon.stop()
    assert report.step == "interrupt", report
    assert report.returncode == 0
    assert marker.exists()


@pytest.mark.skipif(sys.platform != "win32", reason="the inherited Ctrl+C ignore flag is Windows's")
def test_a_harness_that_ignores_ctrl_c_still_interrupts_its_daemons(tmp_path: Path) -> None:
    # A process started with CREATE_NEW_PROCESS_GROUP ignores Ctrl+C and passes
    # that on to what it starts; the harness must not pass it on to a daemon.
    daemon_code = """
import sys, time
try:
    print("up", flush=True)
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    sys.exit(0)
"""
    daemon_args = script(tmp_path, daemon_code)
    harness_code = f"""
import ctypes
from migration_harness.proc import Daemon
ctypes.WinDLL("kernel32").SetConsoleCtrlHandler(None, True)  # ignore Ctrl+C from now on
daemon = Daemon({daemon_args!r}, ready="up", grace={WIDE_GRACE}).start()
print("stopped at", daemon.stop().step)
"""
    result = proc.run(script(tmp_path, harness_code, "harness.py"), timeout=600)
    result.assert_ok()
    assert "stopped at interrupt" in result.stdout, result.describe()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signal dispositions")
def test_a_harness_that_ignores_sigint_still_interrupts_its_daemons(tmp_path: Path) -> None:
    # A script's `cmd &` job starts with SIGINT ignored, and an ignored signal stays
    # ignored across fork and exec: the harness must not pass that on to a daemon.
    daemon_code = """
import sys, time
try:
    print("up", flush=True)
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    sys.exit(0)
"""
    daemon_args = script(tmp_path, daemon_code)
    harness_code = f"""
import signal
from migration_harness.proc import Daemon
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job of a script starts
daemon = Daemon({daemon_args!r}, ready="up", grace={WIDE_GRACE}).start()
print("stopped at", daemon.stop().step)
"""
    result = proc.run(script(tmp_path, harness_code, "harness.py"), timeout=600)
    result.assert_ok()
    assert "stopped at interrupt" in result.stdout, result.describe()


@pytest.mark.skipif(sys.platform != "win32", reason="Windows consoles")
def test_ctrl_c_is_never_sent_to_a_console_the_harness_is_on(tmp_path: Path) -> None:
    # A harness with a console, and a child on that same console (not a Daemon's own):
    # Ctrl+C there would interrupt the harness, so the helper refuses to send it.
    harness_code = """
import subprocess, sys
from migration_harness.proc._winconsole import CTRL_C_EVENT, send_console_event
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
try:
    send_console_event(child.pid, CTRL_C_EVENT)
    print("sent")
except OSError as exc:
    print(exc)
finally:
    child.kill()
"""
    no_window_console = 0x08000000  # the harness gets a console of its own
    harness = proc.popen(
        script(tmp_path, harness_code, "harness.py"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        creationflags=no_window_console,
    )
    output, _ = harness.communicate(timeout=600)
    said = output.decode()
    assert "the daemon shares the console of the harness" in said, said
    assert harness.returncode == 0, said


@pytest.mark.skipif(running_under_wine(), reason=WINE_NO_CTRL_BREAK)
def test_a_daemon_ignoring_the_interrupt_gets_the_terminate_request(tmp_path: Path) -> None:
    # POSIX: SIGTERM. Windows: Ctrl+Break, which Python delivers as SIGBREAK.
    terminate = "SIGBREAK" if sys.platform == "win32" else "SIGTERM"
    code = f"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
def handler(signum, frame):
    print("got " + signal.Signals(signum).name, flush=True)
    sys.exit(21)
signal.signal(signal.{terminate}, handler)
print("up", flush=True)
while True:
    time.sleep(0.05)
"""
    daemon = Daemon(script(tmp_path, code), ready="up", grace=6.0).start()
    report = daemon.stop()
    assert report.step == "terminate", report
    assert report.returncode == 21
    assert f"got {terminate}" in daemon.output
    assert report.notes == ("interrupt: still running after 4.00 s",)


@pytest.mark.parametrize(
    ("grace", "stop_command", "expected"),
    [
        (1.5, False, {"interrupt": 1.0, "terminate": 0.5}),
        # Long enough for the command to finish (a process start: up to 2 s under Wine).
        (6.0, True, {"command": 3.0, "interrupt": 2.0, "terminate": 1.0}),
    ],
    ids=["signals", "ignored-stop-command"],
)
def test_the_chain_gives_each_polite_step_its_share_of_the_grace(
    tmp_path: Path, grace: float, stop_command: bool, expected: dict[str, float]
) -> None:
    pid_file = tmp_path / "child.pid"
    code = f"""
import signal, subprocess, sys, time
for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
    if hasattr(signal, name):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open({str(pid_file)!r}, "w").write(str(child.pid))
print("up", flush=True)
while True:
    time.sleep(0.05)
"""
    asked = [PY, "-c", "print('asked')"] if stop_command else None
    daemon = Daemon(script(tmp_path, code), ready="up", stop_command=asked, grace=grace).start()
    child_pid = int(pid_file.read_text())
    report = daemon.stop()
    assert report.step == "kill", report
    assert report.returncode != 0
    # The same split on every OS: command 3 parts, interrupt 2, terminate 1.
    assert [step for step, _ in report.shares] == list(expected)
    assert [share for _, share in report.shares] == pytest.approx(list(expected.values()))
    if stop_command:
        assert report.notes[0] == "command: succeeded, but the process still ran after 3.00 s"
    assert f"interrupt: still running after {expected['interrupt']:.2f} s" in report.notes
    assert report.notes[-1] == f"terminate: still running after {expected['terminate']:.2f} s"
    if running_under_wine():
        assert any("CTRL_BREAK_EVENT could not be sent" in note for note in report.notes)
    assert gone(daemon.pid)
    assert gone(child_pid)


def test_the_stop_command_comes_first(tmp_path: Path) -> None:
    stop_file = tmp_path / "please-stop"
    code = f"""
import os, sys, time
print("up", flush=True)
while not os.path.exists({str(stop_file)!r}):
    time.sleep(0.02)
print("stopped by command", flush=True)
sys.exit(0)
"""
    stop = [PY, "-c", f"open({str(stop_file)!r}, 'w').close()"]
    daemon = Daemon(script(tmp_path, code), ready="up", stop_command=stop, grace=WIDE_GRACE).start()
    report = daemon.stop()
    assert report.step == "command"
    assert report.returncode == 0
    assert "stopped by command" in daemon.output


def test_a_failing_stop_command_falls_through_to_the_interrupt(tmp_path: Path) -> None:
    code = """
import time
print("up", flush=True)
while True:
    time.sleep(0.05)
"""
    stop = [PY, "-c", "import sys; sys.exit('no daemon to stop')"]
    daemon = Daemon(script(tmp_path, code), ready="up", stop_command=stop, grace=WIDE_GRACE).start()
    report = daemon.stop()
    assert report.step == "interrupt", report
    assert report.notes == ("command: exit code 1: no daemon to stop",)
    # The command's share was 3 of 6 parts; what it did not use went to the rest.
    (_, command), (_, interrupt) = report.shares
    assert command == pytest.approx(WIDE_GRACE / 2)
    assert interrupt > WIDE_GRACE / 3


def test_stop_twice_and_stop_after_exit(tmp_path: Path) -> None:
    daemon = Daemon(script(tmp_path, SLEEPER.format(before="print('up', flush=True)")), ready="up")
    daemon.start()
    assert daemon.stop().step != "already-exited"
    second = daemon.stop()
    assert second.step == "already-exited"
    assert second.returncode == daemon.returncode


def test_huge_output_after_ready_does_not_block_the_daemon(tmp_path: Path) -> None:
    done = tmp_path / "done"
    # 4 MiB on each stream, far past any pipe buffer, in lines of 4 KiB: a
    # single 64 KiB write makes Wine's own server protocol fail now and then
    # under load ("wine client error: partial write 65536"), killing the child.
    before = f"""
print("up", flush=True)
for _ in range(1024):
    sys.stdout.write("o" * 4095 + "\\n")
    sys.stderr.write("e" * 4095 + "\\n")
open({str(done)!r}, "w").close()
"""
    with Daemon(script(tmp_path, SLEEPER.format(before=before)), ready="up") as daemon:
        assert _wait_for(done, daemon), f"{daemon!r}: {daemon.stderr[-2000:]}"
    assert len(daemon.stdout) > 4_000_000
    assert len(daemon.stderr) > 4_000_000


def _wait_for(path: Path, daemon: Daemon, bound: float = 120.0) -> bool:
    """Whether `path` appears while the daemon still runs (a generous bound)."""
    deadline = time.monotonic() + bound
    while not path.exists():
        if not daemon.is_running() or time.monotonic() > deadline:
            return path.exists()
        time.sleep(0.02)
    return True


def test_the_daemon_fixture_starts_in_the_isolated_env_and_stops_at_teardown(
    daemon: DaemonFactory, tmp_path: Path
) -> None:
    daemon.env.set("MH_DAEMON_VAR", "isolated")
    before = 'import os; print("var=" + os.environ["MH_DAEMON_VAR"], flush=True)'
    started = daemon(script(tmp_path, SLEEPER.format(before=before)), ready="^var=")
    assert "var=isolated" in started.output
    assert started.is_running()


def test_the_daemon_fixture_stops_daemons_after_a_failing_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
        import sys

        def test_fails(daemon, tmp_path):
            code = "import time; print('up', flush=True); time.sleep(600)"
            d = daemon([sys.executable, "-c", code], ready="up")
            open("daemon.pid", "w").write(str(d.pid))
            assert False, "the test fails while its daemon runs"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", timeout=300)
    result.assert_outcomes(failed=1)
    pid = int((pytester.path / "daemon.pid").read_text())
    assert gone(pid)


def test_a_string_ready_is_a_ready_line() -> None:
    assert isinstance(proc.Daemon([PY], ready="x").ready, ReadyLine)
    with pytest.raises(TypeError, match="ready must be"):
        proc.Daemon([PY], ready=42)  # type: ignore[arg-type]
