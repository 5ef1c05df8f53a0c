"""Windows: Ctrl+C and Ctrl+Break to a daemon, through a console of its own.

Windows delivers a console control event only to processes attached to the
sender's console. The harness often has none (its std handles are pipes, and
under Wine it never has one), so ``os.kill(pid, CTRL_BREAK_EVENT)`` fails or
reaches nothing. So a daemon is started with a console of its own, without a
window (``CREATE_NO_WINDOW``) and without ``CREATE_NEW_PROCESS_GROUP``, which
would disable Ctrl+C in it. To signal it, a short-lived helper (this file, run
as a script) frees its own console, attaches to the daemon's, ignores the
event itself and generates it for every process on that console: the daemon
and what it started, like a signal to a POSIX process group. The harness
cannot do this itself: detaching from its own console would break its output.

Wine 8 delivers CTRL_C_EVENT this way; its wineserver does not implement
CTRL_BREAK_EVENT (``GenerateConsoleCtrlEvent`` fails), so under Wine the
terminate step reports that and the daemon is killed after the grace.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

CTRL_C_EVENT = 0
CTRL_BREAK_EVENT = 1
EVENT_NAMES = {CTRL_C_EVENT: "CTRL_C_EVENT", CTRL_BREAK_EVENT: "CTRL_BREAK_EVENT"}
#: The polite steps of the stop chain, in order: Ctrl+C is what a console
#: program treats as an interrupt (Python: KeyboardInterrupt; Go: os.Interrupt),
#: Ctrl+Break the stronger request (Python: SIGBREAK, whose default ends it).
POLITE_EVENTS: tuple[tuple[str, int], ...] = (
    ("interrupt", CTRL_C_EVENT),
    ("terminate", CTRL_BREAK_EVENT),
)
CREATE_NO_WINDOW = 0x08000000
DETACHED_PROCESS = 0x00000008
#: Bound on one helper run (a Python start: ~0.1 s on Windows, 0.5-2 s under Wine).
SEND_TIMEOUT = 20.0
#: How long to wait for a hung helper to go after it was killed.
REAP_TIMEOUT = 5.0


def daemon_popen_kwargs() -> dict[str, Any]:
    """``Popen`` keyword arguments for a daemon: its own console, no window, Ctrl+C on."""
    _stop_ignoring_ctrl_c()
    return {"creationflags": CREATE_NO_WINDOW}


def _stop_ignoring_ctrl_c() -> None:
    """Let this process handle Ctrl+C again, which a child inherits when it starts.

    A process started with ``CREATE_NEW_PROCESS_GROUP`` ignores Ctrl+C, and so does
    everything it starts (seen under Wine; documented for Windows): a harness run
    that way would start daemons that never see the interrupt step.
    """
    if sys.platform == "win32":
        import ctypes

        ctypes.WinDLL("kernel32").SetConsoleCtrlHandler(None, False)


def polite_steps(pid: int) -> list[tuple[str, Callable[[], None]]]:
    """The polite stop steps for the daemon ``pid``: Ctrl+C, then Ctrl+Break, to its console."""
    return [(name, _event_sender(pid, event)) for name, event in POLITE_EVENTS]


def _event_sender(pid: int, event: int) -> Callable[[], None]:
    return lambda: send_console_event(pid, event)


def send_console_event(pid: int, event: int) -> None:
    """Generate ``event`` on the console of ``pid``; ``OSError`` says why it could not."""
    # Imported here: this file also runs as the helper, with no site-packages.
    from migration_harness.proc._spawn import spawn

    name = EVENT_NAMES[event]
    helper: subprocess.Popen[bytes] = spawn(
        [sys.executable, "-I", "-S", __file__, str(pid), str(event), str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # No console of its own: it attaches to the daemon's instead.
        creationflags=DETACHED_PROCESS,
    )
    try:
        output, _ = helper.communicate(timeout=SEND_TIMEOUT)
    except subprocess.TimeoutExpired:
        helper.kill()
        # Bounded: a crash debugger Wine starts for it can hold the pipe open.
        with contextlib.suppress(subprocess.TimeoutExpired):
            helper.communicate(timeout=REAP_TIMEOUT)
        raise OSError(f"{name} could not be sent: its helper hung for {SEND_TIMEOUT} s") from None
    if helper.returncode != 0:
        said = output.decode("utf-8", "replace").strip() or f"exit status {helper.returncode}"
        raise OSError(f"{name} could not be sent: {said}")


def _generate(pid: int, event: int, harness: int) -> int:
    """In the helper: attach to ``pid``'s console and generate ``event`` there.

    Refuses when the ``harness`` process is on that console too: the event would
    interrupt the harness itself.
    """
    if sys.platform == "win32":
        import ctypes
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)

        def failed(call: str) -> int:
            error = ctypes.get_last_error()
            print(f"{call} failed: [WinError {error}] {ctypes.FormatError(error)}")
            return 1

        kernel32.FreeConsole()  # there is none when started detached; that is fine
        if not kernel32.AttachConsole(pid):
            return failed(f"AttachConsole({pid})")
        attached = (wintypes.DWORD * 64)()
        count = kernel32.GetConsoleProcessList(attached, len(attached))
        if harness in attached[: min(count, len(attached))]:
            print(f"the daemon shares the console of the harness (pid {harness}): refused")
            return 1
        # The event reaches this helper too; it must survive it. Ctrl+C is ignored
        # without a handler (a ctypes handler called for Ctrl+C crashes under Wine);
        # Ctrl+Break cannot be ignored that way, only handled.
        if not kernel32.SetConsoleCtrlHandler(None, True):
            return failed("SetConsoleCtrlHandler(NULL)")
        survive = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)(lambda _event: True)
        if event == CTRL_BREAK_EVENT and not kernel32.SetConsoleCtrlHandler(survive, True):
            return failed("SetConsoleCtrlHandler")
        # Process group 0: every process attached to the daemon's console.
        if not kernel32.GenerateConsoleCtrlEvent(event, 0):
            return failed(f"GenerateConsoleCtrlEvent({EVENT_NAMES[event]})")
        return 0
    raise OSError("console control events exist only on Windows")


if __name__ == "__main__":
    sys.exit(_generate(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
