"""Crash-point backends against small real programs (strace, hook, sweep)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from migration_harness.crash import (
    HOOK_ENV,
    HOOK_EXIT_CODE,
    BackendUnavailable,
    CrashPoint,
    HookBackend,
    StraceBackend,
    SweepBackend,
    pick_backend,
    sample_evenly,
)
from migration_harness.crash._points import bounded_points
from migration_harness.crash._strace import strace_unavailable_reason
from migration_harness.crash._strace_plan import show_call
from migration_harness.crash._strace_trace import decode_c_string, parse_trace, split_args
from migration_harness.crash._sweep import _DueInBurst, group_bursts, split_gap

needs_strace = pytest.mark.skipif(
    strace_unavailable_reason() is not None, reason=str(strace_unavailable_reason())
)

OLD, NEW = b"old data\n", b"new data\n"

ATOMIC = """
import os, sys
repo = sys.argv[1]
with open(os.path.join(os.path.dirname(repo), "outside.log"), "w") as log:
    log.write("not a crash point: outside the repo\\n")
tmp = os.path.join(repo, "data.tmp")
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"new data\\n")
os.fsync(fd)
os.close(fd)
os.rename(tmp, os.path.join(repo, "data"))
"""

IN_PLACE = """
import os, sys
fd = os.open(os.path.join(sys.argv[1], "data"), os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"new ")
os.write(fd, b"data\\n")
os.close(fd)
"""

# The parent reads the data (same syscall, same path as the child's write-open), runs
# the child, and writes a marker if it ever sees the child die: a kill must take both.
PARENT = """
import os, subprocess, sys
repo = sys.argv[1]
with open(os.path.join(repo, "data"), "rb") as f:
    f.read()
code = subprocess.call([sys.executable, sys.argv[2], repo])
if code != 0:
    with open(os.path.join(repo, "parent-saw-child-die"), "w") as f:
        f.write(str(code))
"""


def write_program(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def fresh_repo(tmp_path: Path) -> Path:
    """A repo holding only ``data`` = OLD, recreated at the same path every time."""
    repo = tmp_path / "repo"
    if repo.exists():
        for item in repo.iterdir():
            item.unlink()
    else:
        repo.mkdir()
    (repo / "data").write_bytes(OLD)
    return repo


def state(repo: Path) -> dict[str, bytes]:
    return {item.name: item.read_bytes() for item in sorted(repo.iterdir())}


Crash = Callable[[CrashPoint], dict[str, bytes]]


def crasher(backend: StraceBackend | HookBackend, args: list[str], tmp_path: Path) -> Crash:
    def crash(point: CrashPoint) -> dict[str, bytes]:
        repo = fresh_repo(tmp_path)
        result = backend.crash_at(point, args, cwd=tmp_path, repo=repo, timeout=60)
        assert not result.timed_out, result.describe()
        return state(repo)

    return crash


# --- strace ---------------------------------------------------------------------------


@needs_strace
def test_strace_enumerates_the_mutations_inside_the_repo_in_order(tmp_path: Path) -> None:
    program = write_program(tmp_path, "atomic.py", ATOMIC)
    repo = fresh_repo(tmp_path)
    points = StraceBackend().enumerate(
        [sys.executable, str(program), str(repo)], cwd=tmp_path, repo=repo, timeout=60
    )
    assert [(p.syscall, Path(p.path).name) for p in points] == [
        ("openat", "data.tmp"),
        ("write", "data.tmp"),
        ("fsync", "data.tmp"),
        ("rename", "data.tmp"),
    ]
    assert [p.index for p in points] == [1, 2, 3, 4]
    assert all(Path(p.path).parent == repo for p in points)
    assert not any("outside" in p.path or "outside" in p.detail for p in points)
    assert state(repo) == {"data": OLD}, "enumerate must put the repo back"
    assert (tmp_path / "outside.log").exists(), "the program really ran"
    assert [p.overwrites for p in points] == [False, False, False, True]  # rename onto data


@needs_strace
def test_strace_crash_at_each_point_is_deterministic(tmp_path: Path) -> None:
    program = write_program(tmp_path, "atomic.py", ATOMIC)
    args = [sys.executable, str(program), str(tmp_path / "repo")]
    backend = StraceBackend()
    points = backend.enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    crash = crasher(backend, args, tmp_path)
    expected = [
        {"data": OLD},  # killed entering the create of the temp file
        {"data": OLD, "data.tmp": b""},  # created, nothing written
        {"data": OLD, "data.tmp": NEW},  # written, not yet synced
        {"data": OLD, "data.tmp": NEW},  # synced, not yet renamed
    ]
    assert [crash(p) for p in points] == expected
    assert [crash(p) for p in points] == expected, "a second round must kill at the same calls"


@needs_strace
def test_strace_finds_the_point_where_an_in_place_write_loses_data(tmp_path: Path) -> None:
    program = write_program(tmp_path, "inplace.py", IN_PLACE)
    args = [sys.executable, str(program), str(tmp_path / "repo")]
    backend = StraceBackend()
    points = backend.enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    assert [p.syscall for p in points] == ["openat", "write", "write"]
    assert all(p.overwrites for p in points)
    crash = crasher(backend, args, tmp_path)
    lost = [p.index for p in points if crash(p)["data"] not in (OLD, NEW)]
    assert lost == [2, 3]  # truncated to nothing, then half written
    assert crash(points[1])["data"] == b""
    assert crash(points[2])["data"] == b"new "


@needs_strace
def test_strace_kills_a_child_and_its_parent_together(tmp_path: Path) -> None:
    child = write_program(tmp_path, "inplace.py", IN_PLACE)
    parent = write_program(tmp_path, "parent.py", PARENT)
    args = [sys.executable, str(parent), str(tmp_path / "repo"), str(child)]
    backend = StraceBackend()
    points = backend.enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    assert [(p.syscall, p.process) for p in points] == [("openat", 2), ("write", 2), ("write", 2)]
    crash = crasher(backend, args, tmp_path)
    for _ in range(2):
        # the child's openat(data) is the parent's openat(data) count too: the plan must
        # still land in the child, and the parent must die before it sees the child die
        assert [crash(p) for p in points] == [
            {"data": OLD},
            {"data": b""},
            {"data": b"new "},
        ]


@needs_strace
def test_strace_samples_evenly_past_max_points(tmp_path: Path) -> None:
    many = "import os, sys\nfor i in range(30):\n    open(os.path.join(sys.argv[1], f'f{i}'), 'w')"
    program = write_program(tmp_path, "many.py", many)
    repo = fresh_repo(tmp_path)
    points = StraceBackend(max_points=4).enumerate(
        [sys.executable, str(program), str(repo)], cwd=tmp_path, repo=repo, timeout=60
    )
    assert points.sampled_from == 30
    assert [Path(p.path).name for p in points] == ["f0", "f10", "f19", "f29"]
    assert [p.index for p in points] == [1, 2, 3, 4]
    assert all(p.sampled_from == 30 for p in points)


# --- parsing and sampling -------------------------------------------------------------


def test_parse_trace_joins_unfinished_calls_in_entry_order() -> None:
    lines = [
        '10  openat(AT_FDCWD</w>, "r/a", O_WRONLY|O_CREAT, 0666 <unfinished ...>\n',
        '11  rename("r/x", "/w/r/y")            = 0\n',
        "10  <... openat resumed>)              = 3</w/r/a>\n",
        '10  write(3</w/r/a>, "\\303\\251", 2) = 2\n',
        '10  openat(AT_FDCWD</w>, "/lib/x.so", O_RDONLY|O_CLOEXEC) = 4</lib/x.so>\n',
        '11  unlinkat(AT_FDCWD</w>, "r/y", 0)    = ?\n',
    ]
    calls = parse_trace(lines, cwd="/w")
    assert [(c.pid, c.name) for c in calls] == [
        (10, "openat"),
        (11, "rename"),
        (10, "write"),
        (10, "openat"),
        (11, "unlinkat"),
    ]
    opened, renamed, written, read, unlinked = calls
    assert opened.resolved == ("/w/r/a",) and opened.raw_paths == ("r/a",) and opened.mutating
    assert renamed.resolved == ("/w/r/x", "/w/r/y")
    assert written.fd_paths == ("/w/r/a",)
    assert not read.mutating
    assert not unlinked.complete and opened.complete


def test_shown_calls_leave_out_binary_data_written_but_keep_text() -> None:
    lines = [
        '10  pwrite64(4</w/r/db-journal>, "\\331\\325\\5\\371 \\0\\0L/\\275"..., 512, 0) = 512\n',
        '10  write(3</w/r/VERSION>, "2\\n", 2) = 2\n',
        '10  writev(3</w/r/a>, [{iov_base="ok", iov_len=2}, {iov_base="\\0\\1", iov_len=2}], 2)'
        " = 4\n",
    ]
    journal, version, vector = parse_trace(lines, cwd="/w")
    # random per run (a journal's nonce): the call, the file and the offset stay
    assert show_call(journal) == "pwrite64(4</w/r/db-journal>, <binary data>, 512, 0)"
    assert show_call(version) == 'write(3</w/r/VERSION>, "2\\n", 2)'
    assert show_call(vector) == "writev(3</w/r/a>, <binary data>, 2)"


def test_decode_and_split_follow_strace_quoting() -> None:
    assert decode_c_string('"caf\\303\\251 \\"q\\"\\x41"') == 'café "q"A'
    assert list(split_args('3</a,b>, "x, y", {a=1, b=2}, 5')) == [
        "3</a,b>",
        '"x, y"',
        "{a=1, b=2}",
        "5",
    ]


def test_sample_evenly_keeps_first_and_last() -> None:
    assert sample_evenly(list(range(10)), 3) == [0, 4, 9]
    assert sample_evenly([1, 2], 5) == [1, 2]
    with pytest.raises(ValueError, match="at least 1"):
        sample_evenly([1], 0)


def test_bounded_points_renumbers_and_reports() -> None:
    points = [CrashPoint(i, "write", f"/r/{i}", "") for i in range(1, 8)]
    kept = bounded_points(points, 3, "strace")
    assert [(p.index, p.path) for p in kept] == [(1, "/r/1"), (2, "/r/4"), (3, "/r/7")]
    assert kept.sampled_from == 7
    assert bounded_points(points, 10, "strace").sampled_from is None


def test_bounded_points_keeps_overwrites_first() -> None:
    points = [CrashPoint(i, "fsync", f"/r/{i}", "", overwrites=i in (5, 6)) for i in range(1, 10)]
    kept = bounded_points(points, 4, "strace")
    assert [p.path for p in kept] == ["/r/1", "/r/5", "/r/6", "/r/9"]
    assert [p.index for p in kept] == [1, 2, 3, 4]


# --- hook -----------------------------------------------------------------------------

HOOKED = f"""
import os, sys
repo = sys.argv[1]
at = int(os.environ.get("{HOOK_ENV}", "0"))
for n, name in enumerate(["one", "two", "three"], 1):
    with open(os.path.join(repo, name), "w") as f:
        f.write(name)
    if n == at:
        os._exit({HOOK_EXIT_CODE})
"""


def test_hook_backend_finds_checkpoints_and_crashes_at_one(tmp_path: Path) -> None:
    program = write_program(tmp_path, "hooked.py", HOOKED)
    args = [sys.executable, str(program), str(tmp_path / "repo")]
    backend = HookBackend()
    points = backend.enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    assert [(p.index, p.syscall, p.nth) for p in points] == [
        (1, "checkpoint", 1),
        (2, "checkpoint", 2),
        (3, "checkpoint", 3),
    ]
    assert state(tmp_path / "repo") == {"data": OLD}, "enumerate must put the repo back"
    repo = fresh_repo(tmp_path)
    result = backend.crash_at(points[1], args, cwd=tmp_path, repo=repo, timeout=60)
    assert result.returncode == HOOK_EXIT_CODE, result.describe()
    assert state(repo) == {"data": OLD, "one": b"one", "two": b"two"}


def test_hook_backend_without_hook_support_has_no_points(tmp_path: Path) -> None:
    program = write_program(tmp_path, "plain.py", ATOMIC)
    args = [sys.executable, str(program), str(tmp_path / "repo")]
    points = HookBackend().enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    assert list(points) == []


# --- sweep ----------------------------------------------------------------------------

SLOW = """
import os, sys, time
repo = sys.argv[1]
for i in range(6):
    with open(os.path.join(repo, f"step{i}"), "w") as f:
        f.write(str(i))
    time.sleep(0.1)
"""


def test_sweep_backend_slices_the_bursts_in_which_the_repo_changed(tmp_path: Path) -> None:
    program = write_program(tmp_path, "slow.py", SLOW)
    args = [sys.executable, str(program), str(tmp_path / "repo")]
    backend = SweepBackend(slices=4)
    points = backend.enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    assert backend.measured is not None
    # six writes 0.1 s apart: six bursts (fewer only if the watcher was starved)
    assert 1 <= len(backend.bursts) <= 6
    # a burst may start at 0: a watcher whose first look comes late (a loaded machine)
    # only knows the first change happened before that look
    assert all(0 <= start <= end < backend.measured for start, end in backend.bursts)
    assert backend.bursts == sorted(backend.bursts)
    # four slices of the bursts, and one kill in each pause between two bursts
    assert len(points) == 4 + len(backend.bursts) - 1
    pauses = [p for p in points if "in the pause after" in p.detail]
    assert [p.burst for p in pauses] == list(range(1, len(backend.bursts)))
    for pause in pauses:
        assert pause.burst is not None and pause.at is not None
        assert backend.bursts[pause.burst - 1][1] < pause.at < backend.bursts[pause.burst][0]
    assert all(p.syscall == "time" and "probabilistic" in p.detail for p in points)
    assert all(p.burst is not None and p.after_burst is not None for p in points)
    assert [p.index for p in points] == list(range(1, len(points) + 1))
    moments = [p.at for p in points]
    assert moments == sorted(moments)
    assert state(tmp_path / "repo") == {"data": OLD}
    repo = fresh_repo(tmp_path)
    result = backend.crash_at(points[0], args, cwd=tmp_path, repo=repo, timeout=60)
    assert not result.timed_out
    # probabilistic: only the structure is certain, the repo holds a prefix of the steps
    steps = sorted(name for name in state(repo) if name.startswith("step"))
    assert steps == [f"step{i}" for i in range(len(steps))]
    if result.returncode == 0:
        assert len(steps) == 6


def test_bursts_are_split_at_the_pauses_between_them() -> None:
    # three changes close together, a long pause, two more
    changes = [(0.100, 0.101), (0.102, 0.103), (0.104, 0.105), (0.300, 0.301), (0.302, 0.303)]
    gap = split_gap(changes)
    assert 0.001 < gap < 0.195
    assert group_bursts(changes, gap) == [(0.100, 0.105), (0.300, 0.303)]
    assert group_bursts(changes[:3], split_gap(changes[:3])) == [(0.100, 0.105)]


# A migration with a start-up (the first sleep) and an in-place write that leaves the
# data empty for a pause (the second sleep); both lengths come from the command line.
# It stays a second after the write: the watcher only sees a change made while the
# command runs, and on a loaded machine it may get no look between a write and the exit.
SLOW_START_IN_PLACE = """
import os, sys, time
repo, start_up, pause = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
time.sleep(start_up)
path = os.path.join(repo, "data")
with open(path, "wb") as f:
    f.flush()
    time.sleep(pause)
    f.write(b"new data\\n")
time.sleep(1.0)
"""


def test_sweep_kills_inside_a_window_that_follows_a_slow_start(tmp_path: Path) -> None:
    program = write_program(tmp_path, "inplace.py", SLOW_START_IN_PLACE)
    repo = tmp_path / "repo"
    backend = SweepBackend(slices=4)
    # The timed run: 0.5 s of start-up, the data empty for 1 s. Its two changes are
    # told apart as long as the watcher is not starved for a whole second (a margin a
    # loaded 2-core machine meets).
    timed = [sys.executable, str(program), str(repo), "0.5", "1.0"]
    points = backend.enumerate(timed, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    assert len(backend.bursts) == 2, backend.bursts  # the truncation, the write
    assert state(repo) == {"data": OLD}
    pause = [p for p in points if p.burst == 1 and "in the pause after" in p.detail]
    assert len(pause) == 1, [p.describe() for p in points]
    # The crash run starts up for longer than the kill's moment after the run's start,
    # and its data stays empty until it is killed: a kill timed from the run's start
    # would land in the start-up and find the old data; timed from the start of the
    # burst, it can only land in the empty window. No luck involved.
    assert pause[0].at is not None
    start_up = f"{pause[0].at + 1.0:.3f}"
    crashing = [sys.executable, str(program), str(repo), start_up, "600"]
    result = backend.crash_at(pause[0], crashing, cwd=tmp_path, repo=fresh_repo(tmp_path))
    assert not result.timed_out, result.describe()
    assert result.returncode != 0, result.describe()
    assert state(repo) == {"data": b""}, pause[0].describe()


def test_sweep_plans_its_kills_from_the_recorded_bursts() -> None:
    # Planning on recorded timings: two bursts of 2 ms, 0.4 s apart, in a 1.5 s run.
    # (Set directly: enumerate() records them from a real run.)
    backend = SweepBackend(slices=4)
    backend.measured = 1.5
    backend.bursts = [(1.000, 1.002), (1.402, 1.404)]
    points = backend._burst_points()
    planned = [(p.burst, round(p.after_burst or 0.0, 6), round(p.at or 0.0, 6)) for p in points]
    assert planned == [
        (1, 0.0005, 1.0005),  # the four slices cover the 4 ms of bursts end to end
        (1, 0.0015, 1.0015),
        (1, 0.202, 1.202),  # the middle of the pause between the bursts
        (2, 0.0005, 1.4025),
        (2, 0.0015, 1.4035),
    ]
    assert "in the pause after" in points[2].detail
    assert [p.index for p in points] == [1, 2, 3, 4, 5]


def test_a_sweep_kill_is_timed_from_its_burst_not_from_the_start(tmp_path: Path) -> None:
    # The crash run's watcher, driven with a chosen clock and real changes to the repo.
    repo = fresh_repo(tmp_path)
    point = CrashPoint(1, "time", "", "", backend="sweep", at=1.2, burst=1, after_burst=0.2)
    due = _DueInBurst(repo, point, gap=0.014)
    no_process = cast("subprocess.Popen[bytes]", None)  # the watcher only looks at the repo
    assert not due(no_process, 1.5)  # past the timed run's moment, but no change yet
    assert not due(no_process, 3.0)
    (repo / "data").write_bytes(b"")  # the burst starts between the looks at 3.0 and 3.1
    assert not due(no_process, 3.1)
    assert not due(no_process, 3.19)
    assert due(no_process, 3.2)  # 0.2 s after the look before the change


def test_sweep_slices_the_whole_run_when_the_repo_never_changes(tmp_path: Path) -> None:
    program = write_program(tmp_path, "idle.py", "import time\ntime.sleep(0.3)\n")
    args = [sys.executable, str(program)]
    backend = SweepBackend(slices=4)
    points = backend.enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    assert backend.bursts == []
    assert [p.fraction for p in points] == [0.25, 0.5, 0.75]
    assert all(p.burst is None and "no change" in p.detail for p in points)


def test_sweep_rejects_too_few_slices() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        SweepBackend(slices=1)


# --- picking --------------------------------------------------------------------------


def test_pick_backend_auto_prefers_strace_then_hook_then_sweep() -> None:
    auto = pick_backend("auto", hook_supported=True)
    expected = "strace" if strace_unavailable_reason() is None else "hook"
    assert auto.name == expected
    if strace_unavailable_reason() is not None:
        assert pick_backend("auto").name == "sweep"


def test_pick_backend_forced_and_unavailable() -> None:
    with pytest.raises(BackendUnavailable, match="does not declare support"):
        pick_backend("hook")
    assert pick_backend("hook", hook_supported=True).name == "hook"
    assert pick_backend("sweep").name == "sweep"
    with pytest.raises(ValueError, match="unknown crash backend 'nope'"):
        pick_backend("nope")


@pytest.mark.skipif(sys.platform.startswith("linux"), reason="strace is Linux only")
def test_strace_unavailable_off_linux() -> None:
    with pytest.raises(BackendUnavailable, match="need Linux"):
        pick_backend("strace")


def test_crash_at_needs_a_plan(tmp_path: Path) -> None:
    point = CrashPoint(1, "checkpoint", "", "from the hook backend")
    with pytest.raises(ValueError, match="not a strace crash point"):
        StraceBackend().crash_at(point, ["true"], cwd=tmp_path, repo=tmp_path)
    assert os.path.isdir(tmp_path)


FLIP = """
import os, sys
repo, counter = sys.argv[1], sys.argv[2]
runs = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(runs + 1))
for name in (["a", "b"] if runs % 2 else ["b", "a"]):
    open(os.path.join(repo, name), "w").write(name)
"""


@needs_strace
def test_strace_reports_a_command_that_mutates_differently_each_run(tmp_path: Path) -> None:
    program = write_program(tmp_path, "flip.py", FLIP)
    args = [sys.executable, str(program), str(tmp_path / "repo"), str(tmp_path / "runs")]
    backend = StraceBackend()
    backend.enumerate(args, cwd=tmp_path, repo=fresh_repo(tmp_path), timeout=60)
    assert backend.warmup_differs
    steady = write_program(tmp_path, "atomic.py", ATOMIC)
    backend.enumerate(
        [sys.executable, str(steady), str(tmp_path / "repo")],
        cwd=tmp_path,
        repo=fresh_repo(tmp_path),
        timeout=60,
    )
    assert not backend.warmup_differs
