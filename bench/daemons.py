"""Daemon stop: ``stop_graceful_ms``, ``stop_stubborn_s`` and mirakuru's stop of the same daemon.

Two small daemons, written as scripts into the scratch directory:

* cooperative: exits at once on SIGINT/SIGTERM (what ``Daemon.stop`` sends first
  when no stop command is given);
* stubborn: ignores SIGINT and SIGTERM, and has a child that ignores them too, so
  only a kill of the whole tree ends it.

mirakuru runs in a child interpreter with a wall-clock cap: at its defaults it
sends SIGTERM and then waits its ``timeout`` (3600 s) before SIGKILL, and this
benchmark will not wait an hour. A capped run records the cap as a lower bound.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.common import Measured, Settings, scripts_env
from bench.stats import median, to_ms
from migration_harness.proc import DEFAULT_GRACE, Daemon, kill_tree

__all__ = ["measure_graceful", "measure_stubborn"]

COOPERATIVE = """\
import signal, sys, time
def stop(signum, frame):
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    time.sleep(3600)
"""

# Ignored signals stay ignored across fork and exec: the child ignores them too.
STUBBORN = """\
import signal, subprocess, sys, time
for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
    if hasattr(signal, name):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
with open(sys.argv[1], "w") as ready:
    ready.write(str(child.pid))
print("ready child=%d" % child.pid, flush=True)
while True:
    time.sleep(3600)
"""

MIRAKURU_RUNNER = """\
import json, sys, time, os
from mirakuru import SimpleExecutor
command, ready_file = json.loads(sys.argv[1]), sys.argv[2]
executor = SimpleExecutor(command, **json.loads(sys.argv[3]))
executor.start()
while not os.path.exists(ready_file) or not open(ready_file).read():
    time.sleep(0.005)
print(json.dumps({"daemon": executor.process.pid, "child": int(open(ready_file).read())}),
      flush=True)
started = time.perf_counter()
try:
    executor.stop()
except Exception as exc:  # a stop that "fails" still stopped; report how long it took
    print(json.dumps({"error": repr(exc)}), flush=True)
print(json.dumps({"stop_s": time.perf_counter() - started}), flush=True)
"""

STOP_ASKED_NOTHING = [sys.executable, "-c", "pass"]  # a stop command the daemon ignores


def _write(settings: Settings, name: str, text: str) -> Path:
    path = settings.workdir / "daemons" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def measure_graceful(settings: Settings) -> Measured:
    script = _write(settings, "cooperative.py", COOPERATIVE)
    command = [sys.executable, "-I", "-S", str(script)]
    runs, warmup = settings.runs(20, 5), 2
    times: list[float] = []
    floor: list[float] = []
    for i in range(warmup + runs):
        daemon = Daemon(command, ready="ready").start()
        started = time.perf_counter()
        report = daemon.stop()
        elapsed = time.perf_counter() - started
        if report.step != "interrupt":
            raise RuntimeError(f"cooperative daemon stopped by {report.step!r}, not 'interrupt'")
        bare = _bare_exit_time(command)
        if i >= warmup:
            times.append(elapsed)
            floor.append(bare)
    out = Measured()
    out.values["stop_graceful_ms"] = to_ms(median(times))
    out.extra["stop_graceful_floor_ms"] = to_ms(median(floor))
    out.extra["stop_graceful_command_ms"] = _graceful_reference(settings)
    out.notes["stop_graceful_ms"] = (
        "SIGINT to the group, daemon exits, reaped, output drained; floor (the same daemon "
        f"signalled and reaped by a blocking waitpid, no harness): "
        f"{out.extra['stop_graceful_floor_ms']:.1f} ms; the reference daemon with its "
        f"`shutdown` command (a second interpreter start): "
        f"{out.extra['stop_graceful_command_ms']:.0f} ms"
    )
    return out


def _bare_exit_time(command: list[str]) -> float:
    """The daemon's own exit time: SIGINT to its group, then a blocking waitpid (POSIX)."""
    if not hasattr(os, "killpg"):
        return math.nan
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    with proc.stdout:
        proc.stdout.readline()  # "ready"
        started = time.perf_counter()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait()  # no timeout: a blocking waitpid, reaped the moment it exits
        return time.perf_counter() - started


def _graceful_reference(settings: Settings) -> float:
    """The reference tool's daemon stopped by its own ``shutdown`` command (a real target)."""
    env = scripts_env()
    ref = [sys.executable, "-m", "migration_harness.reference"]
    times: list[float] = []
    for i in range(settings.runs(5, 2) + 1):
        repo = settings.workdir / "daemons" / f"repo{i}"
        subprocess.run(
            [*ref, "init", str(repo), "--version", "4"],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        daemon = Daemon(
            [*ref, "daemon", str(repo)],
            env=env,
            ready="Daemon is ready",
            stop_command=[*ref, "shutdown", str(repo)],
        ).start()
        started = time.perf_counter()
        report = daemon.stop()
        if report.step != "command":
            raise RuntimeError(f"reference daemon stopped by {report.step!r}: {report.notes}")
        if i:
            times.append(time.perf_counter() - started)
    return to_ms(median(times))


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                time.sleep(0.01)
                continue
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.01)
    return False


def _stubborn_stop(script: Path, ready_file: Path, stop_command: list[str] | None) -> float:
    ready_file.unlink(missing_ok=True)
    daemon = Daemon(
        [sys.executable, "-I", "-S", str(script), str(ready_file)],
        ready="ready child=",
        stop_command=stop_command,
    ).start()
    child = int(ready_file.read_text())
    started = time.perf_counter()
    report = daemon.stop()
    elapsed = time.perf_counter() - started
    if report.step != "kill":
        raise RuntimeError(f"stubborn daemon stopped by {report.step!r}, expected 'kill'")
    if not (_gone(daemon.pid) and _gone(child)):
        raise RuntimeError(f"stubborn daemon tree survived stop(): pids {daemon.pid}, {child}")
    return elapsed


def measure_stubborn(settings: Settings) -> Measured:
    script = _write(settings, "stubborn.py", STUBBORN)
    ready = settings.workdir / "daemons" / "stubborn.ready"
    runs = settings.runs(3, 1)
    with_command = [_stubborn_stop(script, ready, STOP_ASKED_NOTHING) for _ in range(runs)]
    signals_only = [_stubborn_stop(script, ready, None) for _ in range(runs)]
    out = Measured()
    out.values["stop_stubborn_s"] = median(with_command)
    out.extra["stop_stubborn_no_command_s"] = median(signals_only)
    out.notes["stop_stubborn_s"] = (
        f"worst case: an ignored stop command, SIGINT, SIGTERM (grace {DEFAULT_GRACE:g} s), "
        f"then the tree is killed; without a stop command: {median(signals_only):.2f} s"
    )
    out.merge(_mirakuru(settings, script, ready))
    return out


def _mirakuru(settings: Settings, script: Path, ready: Path) -> Measured:
    out = Measured()
    try:
        import mirakuru  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        out.values["mirakuru_stop_stubborn_s"] = None
        out.skipped["mirakuru_stop_stubborn_s"] = (
            "mirakuru is not installed (`nox -s bench` installs it in its own venv)"
        )
        return out
    cap = 10.0 if settings.quick else 20.0
    default_s, capped = _mirakuru_stop(script, ready, {}, cap)
    same_grace_s, _ = _mirakuru_stop(script, ready, {"timeout": DEFAULT_GRACE}, 60.0)
    out.values["mirakuru_stop_stubborn_s"] = default_s
    out.extra["mirakuru_version"] = getattr(mirakuru, "__version__", "?")
    out.extra["mirakuru_stop_stubborn_capped"] = capped
    out.extra["mirakuru_stop_stubborn_timeout3_s"] = same_grace_s
    waited = f"did not return within the {cap:g} s cap (a lower bound)" if capped else "measured"
    out.notes["mirakuru_stop_stubborn_s"] = (
        f"mirakuru at its defaults {waited}: it sends SIGTERM, then waits its start/stop "
        f"`timeout` (default 3600 s) before SIGKILL; with timeout={DEFAULT_GRACE:g}: "
        f"{same_grace_s:.2f} s"
    )
    return out


def _mirakuru_stop(
    script: Path, ready: Path, options: dict[str, float], cap: float
) -> tuple[float, bool]:
    """Seconds mirakuru's ``stop()`` took, and whether it hit ``cap`` (then: ``cap``)."""
    ready.unlink(missing_ok=True)
    command = [sys.executable, "-I", "-S", str(script), str(ready)]
    runner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            MIRAKURU_RUNNER,
            json.dumps(command),
            str(ready),
            json.dumps(options),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert runner.stdout is not None
    pids = json.loads(runner.stdout.readline())
    try:
        runner.wait(cap + 5.0)  # the stop starts right after the pids line
    except subprocess.TimeoutExpired:
        for pid in (runner.pid, pids["daemon"], pids["child"]):
            kill_tree(pid)
        runner.wait()
        return cap, True
    lines = [json.loads(line) for line in runner.stdout.read().splitlines() if line.strip()]
    stop_s = next(line["stop_s"] for line in lines if "stop_s" in line)
    for pid in (pids["daemon"], pids["child"]):
        if not _gone(pid):
            kill_tree(pid)
            raise RuntimeError(f"mirakuru's stop left pid {pid} running (killed now)")
    return float(stop_s), False
