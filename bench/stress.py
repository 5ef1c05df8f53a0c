"""Stress runner: the whole suite N times, in random order and in parallel, then an orphan check.

``python -m bench.stress [N] [--load K] [PYTEST_ARGS...]`` (``nox -s stress -- N ...``)
runs ``pytest`` N times (default 5) with ``-n auto`` and pytest-randomly on a new
seed each run, printed so that any failure can be replayed. With ``--load K``, K
processes that burn a CPU each run beside the suite for the whole of it (a busy
machine, as CI runners and laptops are); the runner stops them at the end, and they
stop by themselves if the runner dies. After each run it looks for processes the run
left alive: descendants of this runner, processes carrying the run's marker variable
in their environment (everything a test starts inherits it unless the test builds an
environment from nothing), and processes whose working directory or command line
points into the run's temporary directories (``--basetemp`` and ``TMPDIR`` are set per
run). Orphans are listed, then killed. The last line is always::

    stress: R runs, F failed, O orphan processes
    stress: R runs under load K, F failed, O orphan processes   (with --load K)

where F counts the runs that failed. The exit status is 0 only when F and O are 0.
Development only: this module is not part of the installed package.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = [
    "DEFAULT_RUNS",
    "MARKER_ENV",
    "CpuLoad",
    "ProcessInfo",
    "RunOutcome",
    "StressArgs",
    "find_orphans",
    "main",
    "parse_args",
    "parse_failures",
    "pytest_command",
    "scan_processes",
    "summary_line",
]

DEFAULT_RUNS = 5
MARKER_ENV = "MIGRATION_HARNESS_STRESS_RUN"
#: How long processes may take to disappear after pytest exits (the harness's guardian
#: sweeps after its interpreter ends) before they count as orphans.
ORPHAN_GRACE_S = 5.0
ORPHAN_POLL_S = 0.1
DEFAULT_SELECTION = ("tests",)
TEST_TIMEOUT = "--timeout=300"
_FAILURE_LINE = re.compile(r"^(?P<kind>FAILED|ERROR) (?P<test>\S+)(?: - .*)?$")


# -- pure parts (unit-tested) ------------------------------------------------------


def summary_line(runs: int, failed: int, orphans: int, load: int = 0) -> str:
    """The runner's last line."""
    under = f" under load {load}" if load else ""
    return f"stress: {runs} runs{under}, {failed} failed, {orphans} orphan processes"


@dataclass(frozen=True)
class StressArgs:
    runs: int
    pytest_args: tuple[str, ...]
    load: int = 0
    """How many CPU-burning processes run beside the suite."""


class StressUsageError(ValueError):
    """Bad command line; the message says what was expected."""


_INTEGER = re.compile(r"[+-]?\d+")


def parse_args(argv: Sequence[str]) -> StressArgs:
    """``[N] [--load K] [PYTEST_ARGS...]``: a leading integer is the run count, ``--load K``
    (before or after it) the number of CPU burners; the rest go to pytest."""
    args = list(argv)
    runs, load = DEFAULT_RUNS, 0
    runs_given = load_given = False
    while args:
        if not runs_given and _INTEGER.fullmatch(args[0]):
            runs, runs_given = int(args.pop(0)), True
            if runs < 1:
                raise StressUsageError(f"the number of runs must be at least 1, got {runs}")
        elif not load_given and (args[0] == "--load" or args[0].startswith("--load=")):
            load, load_given = _load_value(args), True
        else:
            break
    return StressArgs(runs=runs, pytest_args=tuple(args), load=load)


def _load_value(args: list[str]) -> int:
    """Take ``--load K`` or ``--load=K`` off the front of ``args``; K must be 0 or more."""
    option = args.pop(0)
    if option == "--load":
        if not args:
            raise StressUsageError("--load needs a number of CPU-burning processes, e.g. --load 2")
        value = args.pop(0)
    else:
        value = option.removeprefix("--load=")
    if not re.fullmatch(r"\d+", value):
        raise StressUsageError(
            f"--load expects a number of CPU-burning processes (0 or more), got {value!r}"
        )
    return int(value)


def _wants_own_workers(pytest_args: Sequence[str]) -> bool:
    return any(
        arg in ("-n", "--numprocesses", "no:xdist", "-p no:xdist")
        or arg.startswith(("-n=", "--numprocesses=", "-n0", "-n1", "-n2", "-n3", "-n4"))
        for arg in pytest_args
    )


def pytest_command(python: str, seed: int, basetemp: Path, pytest_args: Sequence[str]) -> list[str]:
    """The pytest command of one run: the selection, xdist, randomly with ``seed``, basetemp."""
    selection = list(pytest_args) or list(DEFAULT_SELECTION)
    workers = [] if _wants_own_workers(selection) else ["-n", "auto"]
    return [
        python, "-m", "pytest", *selection, *workers,
        "-p", "randomly", f"--randomly-seed={seed}",
        f"--basetemp={basetemp}", TEST_TIMEOUT, "-rfE", "-p", "no:cacheprovider",
    ]  # fmt: skip


def parse_failures(output: str) -> list[str]:
    """Test ids from pytest's short summary (``-rfE``): ``FAILED id`` / ``ERROR id`` lines."""
    failures: list[str] = []
    for line in output.splitlines():
        match = _FAILURE_LINE.match(line.strip())
        if match is not None and ("::" in match["test"] or match["test"].endswith(".py")):
            entry = f"{match['kind']} {match['test']}"
            if entry not in failures:
                failures.append(entry)
    return failures


@dataclass(frozen=True)
class ProcessInfo:
    """What the orphan check needs to know about one process."""

    pid: int
    cmdline: tuple[str, ...] = ()
    cwd: str | None = None
    marker: str | None = None  # the value of MARKER_ENV in its environment, if readable

    def describe(self) -> str:
        command = shlex.join(self.cmdline) if self.cmdline else "?"
        return f"pid {self.pid}: {command} (cwd {self.cwd or '?'})"


def _inside(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def find_orphans(
    processes: Iterable[ProcessInfo],
    *,
    descendants: Collection[int],
    marker: str,
    roots: Sequence[str],
    exclude: Collection[int] = (),
) -> list[ProcessInfo]:
    """The processes a run left behind: a descendant of the runner, carrying the run's
    ``marker``, or with its cwd or a command-line argument inside one of ``roots``."""
    orphans: list[ProcessInfo] = []
    for proc in processes:
        if proc.pid in exclude:
            continue
        if (
            proc.pid in descendants
            or (proc.marker is not None and proc.marker == marker)
            or (proc.cwd is not None and _inside(proc.cwd, roots))
            or any(_inside(arg, roots) for arg in proc.cmdline)
        ):
            orphans.append(proc)
    return orphans


# -- the live system -----------------------------------------------------------------


def scan_processes() -> list[ProcessInfo]:
    """Every process psutil can see, with what it may read of each (no error if it may not)."""
    found: list[ProcessInfo] = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = proc.info
        marker: str | None = None
        with contextlib.suppress(psutil.Error, OSError):
            marker = proc.environ().get(MARKER_ENV)
        found.append(
            ProcessInfo(
                pid=int(info["pid"]),
                cmdline=tuple(info.get("cmdline") or ()),
                cwd=info.get("cwd"),
                marker=marker,
            )
        )
    return found


def _descendants() -> set[int]:
    with contextlib.suppress(psutil.Error):
        return {child.pid for child in psutil.Process().children(recursive=True)}
    return set()


def _live_orphans(marker: str, roots: Sequence[str], existed: Collection[int]) -> list[ProcessInfo]:
    candidates = find_orphans(
        scan_processes(),
        descendants=_descendants(),
        marker=marker,
        roots=roots,
        exclude={os.getpid(), *existed},
    )
    return [proc for proc in candidates if _alive(proc.pid)]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_for_orphans(
    marker: str, roots: Sequence[str], grace: float, *, existed: Collection[int] = ()
) -> list[ProcessInfo]:
    """Orphans still there after ``grace`` seconds (the harness's guardian may lag).

    ``existed``: pids that were already running before the run (this runner's own
    children from earlier, such as a guardian when run inside pytest): never orphans.
    """
    deadline = time.monotonic() + grace
    while True:
        orphans = _live_orphans(marker, roots, existed)
        if not orphans or time.monotonic() >= deadline:
            return orphans
        time.sleep(ORPHAN_POLL_S)


def kill_processes(orphans: Iterable[ProcessInfo]) -> None:
    procs: list[psutil.Process] = []
    for orphan in orphans:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(orphan.pid))
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)


# -- the load ---------------------------------------------------------------------------

#: One burner: spins on a CPU until its stdin ends, which happens when the runner closes
#: the pipe or dies in any way (the OS closes a dead process's end): a burner never
#: outlives its runner, on any OS. The runner kills it too, in case it is stuck.
BURNER_CODE = """
import os, sys, threading

def end_with_the_runner():
    sys.stdin.buffer.read()
    os._exit(0)

threading.Thread(target=end_with_the_runner, daemon=True).start()
while True:
    pass
"""
#: On a burner's command line, so that `ps` says what it is.
BURNER_TAG = "mh-stress-load"
BURNER_STOP_S = 10.0


class CpuLoad:
    """``count`` CPU-burning processes for the length of a ``with`` block; ``left``
    afterwards lists any that outlived the stop (none expected: they count as orphans)."""

    def __init__(self, count: int, python: str = sys.executable) -> None:
        self.count = count
        self.python = python
        self.procs: list[subprocess.Popen[bytes]] = []
        self.left: list[ProcessInfo] = []

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def __enter__(self) -> CpuLoad:
        try:
            for _ in range(self.count):
                self.procs.append(
                    subprocess.Popen(
                        [self.python, "-c", BURNER_CODE, BURNER_TAG],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                    )
                )
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Close each burner's stdin (it exits), kill it anyway, reap it."""
        for proc in self.procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            with contextlib.suppress(OSError):
                proc.kill()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=BURNER_STOP_S)
        self.left = [
            ProcessInfo(pid=proc.pid, cmdline=(self.python, "-c", "...", BURNER_TAG))
            for proc in self.procs
            if proc.poll() is None
        ]


# -- the runner ------------------------------------------------------------------------


@dataclass
class RunOutcome:
    index: int
    seed: int
    returncode: int
    failures: list[str] = field(default_factory=list)
    orphans: list[ProcessInfo] = field(default_factory=list)
    log: Path | None = None

    @property
    def failed(self) -> bool:
        return self.returncode != 0


def run_once(index: int, total: int, args: StressArgs, root: Path) -> RunOutcome:
    seed = secrets.randbelow(2**32)
    run_dir = root / f"run{index}"
    tmp = run_dir / "tmp"
    tmp.mkdir(parents=True)
    log = run_dir / "pytest.log"
    command = pytest_command(sys.executable, seed, run_dir / "basetemp", args.pytest_args)
    marker = f"{os.getpid()}-{index}-{seed}"
    env = dict(os.environ)
    env.update({MARKER_ENV: marker, "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)})
    print(f"stress: run {index}/{total}, seed {seed}: {shlex.join(command)}", flush=True)
    existed = _descendants()
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    output = log.read_text(encoding="utf-8", errors="replace")
    outcome = RunOutcome(index, seed, done.returncode, parse_failures(output), log=log)
    outcome.orphans = wait_for_orphans(marker, [str(run_dir)], ORPHAN_GRACE_S, existed=existed)
    kill_processes(outcome.orphans)
    _report(outcome, command, output)
    return outcome


def _last_line(output: str) -> str:
    lines = [line.strip("= ") for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _report(outcome: RunOutcome, command: list[str], output: str) -> None:
    status = "FAILED" if outcome.failed else "ok"
    print(f"stress: run {outcome.index} {status} (exit {outcome.returncode}): {_last_line(output)}")
    for failure in outcome.failures:
        print(f"  {failure}  (seed {outcome.seed})")
    if outcome.failed:
        if not outcome.failures:
            print("  no failing test named; last lines of the log:")
            for line in output.splitlines()[-15:]:
                print(f"    {line}")
        print(f"  reproduce: {shlex.join(command)}")
        print(f"  log: {outcome.log}")
    for orphan in outcome.orphans:
        print(f"  orphan (killed now): {orphan.describe()}")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    try:
        args = parse_args(raw)
    except StressUsageError as exc:
        print(f"stress: error: {exc}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="mh-stress-"))
    with CpuLoad(args.load) as load:
        if args.load:
            pids = ", ".join(str(pid) for pid in load.pids)
            print(f"stress: load {args.load}: CPU-burning processes {pids}", flush=True)
        outcomes = [run_once(i, args.runs, args, root) for i in range(1, args.runs + 1)]
    for burner in load.left:
        print(f"stress: a CPU-burning process outlived its stop: {burner.describe()}")
    failed = sum(outcome.failed for outcome in outcomes)
    orphans = sum(len(outcome.orphans) for outcome in outcomes) + len(load.left)
    if failed:
        print(f"stress: logs of failed runs kept under {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    print(summary_line(len(outcomes), failed, orphans, args.load), flush=True)
    return 0 if failed == 0 and orphans == 0 else 1


def restore_interrupt() -> None:
    """Let the suite's processes see Ctrl-C again if this runner was started with it ignored.

    A shell that starts a command in the background without job control (a script,
    ``nohup``, ``cmd &``) starts it with SIGINT ignored, and every process the suite
    starts would inherit that: its tests of Ctrl-C and of the SIGINT stop step would fail
    for a reason of the runner's. A handler, unlike an ignored signal, is not inherited
    across exec, so installing Python's own handler here is enough.
    """
    if hasattr(signal, "SIGINT") and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def stop_on_terminate() -> None:
    """SIGTERM (how nox and CI runners stop a session) unwinds like Ctrl-C, so that the
    suite run in progress is stopped with this runner instead of running on alone."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, interrupt)


if __name__ == "__main__":
    restore_interrupt()
    stop_on_terminate()
    sys.exit(main())
