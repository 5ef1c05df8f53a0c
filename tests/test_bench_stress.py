"""The parts of the benchmarks and the stress runner that can be tested without timing anything:
statistics helpers, the results schema and table, the concurrency arithmetic, the stress
runner's command line, summary line, failure parsing and orphan detection (on fake process
sets and on one real leftover process), and its CPU load (real burners, started and gone)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench import run as bench_run
from bench import stress
from bench.common import Measured, Settings
from bench.concurrency import Clock, ideal_and_wall, parse_clock
from bench.schema import REQUIRED_KEYS, format_table, target_status, validate_results
from bench.stats import median, ratio, repeat
from bench.stress import ProcessInfo, find_orphans, parse_failures, pytest_command
from bench.suite_speed import summary_line as pytest_summary
from bench.windows_leg import describe_phases, split_phases
from tests import sub
from tests.procwait import gone, read_pid

# -- stats ----------------------------------------


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_median_of_nothing_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no measurements"):
        median([])


def test_ratio_refuses_a_zero_denominator() -> None:
    assert ratio(3.0, 2.0) == 1.5
    with pytest.raises(ValueError, match="positive"):
        ratio(1.0, 0.0)


class FakeClock:
    """Advances one second per reading: each timed call measures exactly 1 s."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_repeat_runs_warmup_unmeasured_then_measured_runs() -> None:
    seen: list[int] = []

    def action(i: int) -> None:
        seen.append(i)

    sample = repeat(action, runs=3, warmup=2, clock=FakeClock())
    assert seen == [0, 1, 2, 3, 4]
    assert sample.times == (1.0, 1.0, 1.0)
    assert sample.warmup == 2


def test_repeat_keeps_a_duration_the_action_reports() -> None:
    sample = repeat(lambda i: i / 10, runs=3, warmup=1, clock=FakeClock())
    assert sample.times == (0.1, 0.2, 0.3)
    assert sample.median == 0.2
    assert (sample.low, sample.high) == (0.1, 0.3)


@pytest.mark.parametrize(("runs", "warmup"), [(0, 1), (1, -1)])
def test_repeat_rejects_bad_counts(runs: int, warmup: int) -> None:
    with pytest.raises(ValueError):
        repeat(lambda i: None, runs=runs, warmup=warmup)


# -- results schema ----------------------------------------


def good_results() -> dict[str, Any]:
    results: dict[str, Any] = {key: 1.0 for key in REQUIRED_KEYS}
    results.update(skipped={}, notes={}, meta={"platform": sys.platform})
    return results


def test_complete_results_are_valid() -> None:
    assert validate_results(good_results()) == []


def test_every_required_key_is_named_when_missing() -> None:
    problems = validate_results({"meta": {}})
    assert problems == [f"missing key {key!r}" for key in REQUIRED_KEYS]


@pytest.mark.parametrize("bad", [True, "3", math.nan, math.inf, -1.0, [1.0]])
def test_a_figure_must_be_a_finite_non_negative_number(bad: object) -> None:
    results = good_results()
    results["mock_build_ms"] = bad
    (problem,) = validate_results(results)
    assert "'mock_build_ms'" in problem


def test_null_needs_a_skip_reason() -> None:
    results = good_results()
    results["xdist_speedup"] = None
    (problem,) = validate_results(results)
    assert "'xdist_speedup' is null" in problem
    results["skipped"] = {"xdist_speedup": "--quick"}
    assert validate_results(results) == []


def test_meta_is_required() -> None:
    results = good_results()
    del results["meta"]
    assert validate_results(results) == ['missing object "meta" (platform, python, cpus, date)']


def test_target_status() -> None:
    assert target_status("mock_build_ms", 4.9) == "met"
    assert target_status("mock_build_ms", 5.1) == "MISSED"
    assert target_status("xdist_speedup", 1.7) == "met"
    assert target_status("xdist_speedup", 1.5) == "MISSED"
    assert target_status("go_build_ms", 900.0) == "-"
    assert target_status("concurrent_ratio", None) == "skipped"


def test_table_has_one_row_per_required_key_with_its_status() -> None:
    results = good_results()
    results["stop_graceful_ms"] = 33.0
    results["xdist_speedup"] = None
    lines = format_table(results).splitlines()
    assert len(lines) == 2 + len(REQUIRED_KEYS)
    rows = {line.split()[0]: line for line in lines[2:]}
    assert rows["stop_graceful_ms"].split()[-1] == "MISSED"
    assert "33 ms" in rows["stop_graceful_ms"]
    assert rows["mock_build_ms"].split()[-1] == "met"
    assert rows["xdist_speedup"].split()[-1] == "skipped"


def test_results_built_by_the_runner_validate_and_round_trip(tmp_path: Path) -> None:
    measured = Measured()
    for key in REQUIRED_KEYS:
        measured.values[key] = 2.0
    measured.values["xdist_speedup"] = None
    measured.skipped["xdist_speedup"] = "--quick"
    measured.notes["go_build_ms"] = "warm cache"
    results = bench_run.build_results(measured, Settings(workdir=tmp_path, quick=True))
    reloaded = json.loads(json.dumps(results))
    assert validate_results(reloaded) == []
    assert reloaded["skipped"] == {"xdist_speedup": "--quick"}
    assert reloaded["meta"]["quick"] is True


def test_results_of_steps_not_run_are_null_with_a_reason(tmp_path: Path) -> None:
    measured = Measured(values={"mock_build_ms": 1.0})
    results = bench_run.build_results(measured, Settings(workdir=tmp_path))
    assert validate_results(results) == []
    assert results["go_build_ms"] is None
    assert results["skipped"]["go_build_ms"] == "not run (--only)"


def test_a_failing_step_leaves_its_keys_null_with_the_error(tmp_path: Path) -> None:
    def broken(settings: Settings, measured: Measured) -> Measured:
        raise RuntimeError("no go here")

    steps = dict(bench_run.STEPS)
    steps["go_build"] = broken
    original = bench_run.STEPS
    bench_run.STEPS = steps  # restored below: module state, not process-wide state
    try:
        measured = bench_run.run_steps(Settings(workdir=tmp_path), ["go_build"])
    finally:
        bench_run.STEPS = original
    assert measured.values == {"go_build_ms": None, "go_build_ratio": None}
    assert "RuntimeError: no go here" in measured.skipped["go_build_ms"]


def test_a_run_with_only_keeps_the_earlier_figures_of_the_steps_it_did_not_run(
    tmp_path: Path,
) -> None:
    full = Measured(values=dict.fromkeys(REQUIRED_KEYS, 3.0))
    full.values["windows_leg_min"] = None
    full.skipped["windows_leg_min"] = "opt-in"
    full.notes["xdist_speedup"] = "-n 0: 1078 s"
    earlier = json.loads(json.dumps(bench_run.build_results(full, Settings(workdir=tmp_path))))
    earlier["meta"]["date"] = "2026-11-01T00:00:00+00:00"
    now = Measured(values={"windows_leg_min": 9.5})
    results = bench_run.build_results(now, Settings(workdir=tmp_path))
    kept = bench_run.keep_earlier(results, earlier, ["windows_leg"])
    assert validate_results(results) == []
    assert results["windows_leg_min"] == 9.5  # this run's own figure
    assert results["xdist_speedup"] == 3.0 and "xdist_speedup" not in results["skipped"]
    assert results["notes"]["xdist_speedup"] == "-n 0: 1078 s"
    assert results["meta"]["earlier"]["xdist_speedup"] == "2026-11-01T00:00:00+00:00"
    assert "windows_leg_min" not in kept and len(kept) == len(REQUIRED_KEYS) - 1
    # run again with --only: a figure kept once keeps the date it was measured on
    again = bench_run.build_results(Measured(values={"mock_build_ms": 1.0}), Settings(tmp_path))
    bench_run.keep_earlier(again, json.loads(json.dumps(results)), ["mock_build"])
    assert again["meta"]["earlier"]["xdist_speedup"] == "2026-11-01T00:00:00+00:00"
    assert again["mock_build_ms"] == 1.0 and "mock_build_ms" not in again["meta"]["earlier"]


def test_unknown_step_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        bench_run.parse_args(["--only", "mock_build,warp_drive"])
    assert exited.value.code == 2
    assert "unknown step(s) warp_drive" in capsys.readouterr().err


def test_an_opt_in_step_runs_only_when_named_and_says_how_to_run_it(tmp_path: Path) -> None:
    assert "windows_leg" not in bench_run.parse_args([]).steps
    assert bench_run.parse_args(["--only", "windows_leg"]).steps == ["windows_leg"]
    results = bench_run.build_results(Measured(), Settings(workdir=tmp_path))
    assert validate_results(results) == []
    assert results["windows_leg_min"] is None
    assert "--only windows_leg" in results["skipped"]["windows_leg_min"]


def test_the_windows_leg_is_split_at_each_nox_command() -> None:
    output = [
        (0.0, "nox > Running session windows"),
        (0.5, "nox > python -m pip install -e ."),
        (9.0, "nox > migration-harness windows --pytest -- tests -n 2"),
        (12.0, "migration-harness windows: Windows Python ready in 2.5 s: C:/python.exe"),
        (300.0, "================ 700 passed, 90 skipped in 287.10s (0:04:47) ================="),
        (301.0, "nox > migration-harness windows check --crash-backend sweep"),
        (301.5, "migration-harness windows: Windows Python ready in 0.0 s: C:/python.exe"),
        (450.0, "check: PASSED: refrepo: 38 passed, 0 failed, 0 skipped in 148.0s"),
        (451.0, "nox > Session windows was successful in 7 minutes."),
    ]
    phases = split_phases(output)
    assert [p["command"] for p in phases] == [
        "python -m pip install -e .",
        "migration-harness windows --pytest -- tests -n 2",
        "migration-harness windows check --crash-backend sweep",
    ]
    assert [p["seconds"] for p in phases] == [8.5, 292.0, 150.0]
    assert phases[1]["provision_s"] == 2.5
    assert phases[1]["summary"] == "700 passed, 90 skipped in 287.10s (0:04:47)"
    assert str(phases[2]["summary"]).startswith("check: PASSED: refrepo: 38 passed")


def test_the_main_job_beside_the_suite_shows_its_summary_in_the_note() -> None:
    output = [
        (0.0, "nox > Running session windows"),
        (0.2, "nox > migration-harness windows --provision-only"),
        (0.7, "nox > migration-harness windows check --crash-backend sweep (beside the next"),
        (0.7, "nox > migration-harness windows --pytest -- tests -n 2"),
        (569.0, "================ 760 passed, 113 skipped in 568.77s (0:09:28) ======="),
        (575.0, "nox > output of migration-harness windows check --crash-backend sweep (exit"),
        (575.1, "check: PASSED: refrepo: 38 passed, 0 failed, 0 skipped in 285.9s"),
        (575.2, "nox > Session windows was successful in 10 minutes."),
    ]
    assert describe_phases(split_phases(output)) == (
        "574.3 s migration-harness windows --pytest [760 passed, 113 skipped in 568.77s"
        " (0:09:28)]; 0.2 s output of migration-harness"
        " [check: PASSED: refrepo: 38 passed, 0 failed, 0 skipped in 285.9s]"
    )


# -- concurrency arithmetic and suite summary ----------------------------------------


def test_parse_clock_is_relative_to_the_release() -> None:
    stderr = "noise\nlockclock try=100.25 held=100.5 free=101.0\n"
    clock = parse_clock(stderr, released_at=100.0, duration=1.5)
    assert clock == Clock(tried=0.25, held=0.5, freed=1.0, ended=1.5)
    assert clock.section == 0.5


def test_parse_clock_without_the_line_says_so() -> None:
    with pytest.raises(ValueError, match="no 'lockclock' line"):
        parse_clock("Traceback ...", released_at=0.0, duration=1.0)


def test_ideal_is_first_spawn_plus_sections_plus_last_exit() -> None:
    clocks = [
        Clock(tried=0.2, held=0.2, freed=0.7, ended=0.75),  # the migrator doing the work
        Clock(tried=0.3, held=0.8, freed=0.85, ended=0.9),  # waited, then found it done
        Clock(tried=0.4, held=0.9, freed=0.95, ended=1.0),  # the last holder: exits in 0.05
    ]
    ideal, wall = ideal_and_wall(clocks)
    assert ideal == pytest.approx(0.2 + (0.5 + 0.05 + 0.05) + 0.05)
    assert wall == 1.0


def test_pytest_summary_line() -> None:
    output = "....\n==== 12 passed, 1 skipped in 3.40s ====\n"
    assert pytest_summary(output) == "12 passed, 1 skipped in 3.40s"
    assert pytest_summary("") == "(no summary line)"


# -- stress: pure parts ----------------------------------------


def test_summary_line_is_exact() -> None:
    assert stress.summary_line(5, 1, 0) == "stress: 5 runs, 1 failed, 0 orphan processes"
    assert (
        stress.summary_line(10, 0, 0, load=2)
        == "stress: 10 runs under load 2, 0 failed, 0 orphan processes"
    )


@pytest.mark.parametrize(
    ("argv", "runs", "pytest_args"),
    [
        ([], 5, ()),
        (["1"], 1, ()),
        (["3", "tests/test_x.py", "-k", "lock"], 3, ("tests/test_x.py", "-k", "lock")),
        (["tests/test_x.py"], 5, ("tests/test_x.py",)),
    ],
)
def test_parse_args(argv: list[str], runs: int, pytest_args: tuple[str, ...]) -> None:
    parsed = stress.parse_args(argv)
    assert (parsed.runs, parsed.pytest_args, parsed.load) == (runs, pytest_args, 0)


@pytest.mark.parametrize(
    ("argv", "runs", "load", "pytest_args"),
    [
        (["10", "--load", "2"], 10, 2, ()),
        (["--load=3", "4", "t.py"], 4, 3, ("t.py",)),
        (["--load", "0", "-k", "x"], 5, 0, ("-k", "x")),
        (["2", "t.py", "--load", "1"], 2, 0, ("t.py", "--load", "1")),  # pytest's from here
    ],
)
def test_parse_args_with_load(
    argv: list[str], runs: int, load: int, pytest_args: tuple[str, ...]
) -> None:
    parsed = stress.parse_args(argv)
    assert (parsed.runs, parsed.load, parsed.pytest_args) == (runs, load, pytest_args)


def test_zero_runs_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert stress.main(["0"]) == 2
    assert "at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "named"), [(["3", "--load"], "--load needs"), (["--load=-1"], "'-1'")]
)
def test_a_bad_load_is_a_usage_error(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stress.main(argv) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "CPU-burning processes" in err


def test_pytest_command_carries_seed_basetemp_and_xdist(tmp_path: Path) -> None:
    command = pytest_command("py", 1234, tmp_path / "bt", [])
    assert command[:4] == ["py", "-m", "pytest", "tests"]
    assert "--randomly-seed=1234" in command
    assert f"--basetemp={tmp_path / 'bt'}" in command
    assert command[command.index("-n") + 1] == "auto"
    assert command[command.index("randomly") - 1] == "-p"


def test_pytest_command_leaves_worker_choice_to_the_user(tmp_path: Path) -> None:
    assert "auto" not in pytest_command("py", 1, tmp_path, ["t.py", "-n", "2"])
    assert "-n" not in pytest_command("py", 1, tmp_path, ["t.py", "-p", "no:xdist"])


def test_parse_failures_reads_the_short_summary() -> None:
    output = textwrap.dedent(
        """\
        ===== short test summary info =====
        FAILED tests/test_a.py::test_one[x-y] - AssertionError: boom
        ERROR tests/test_b.py::test_two - RuntimeError
        FAILED tests/test_a.py::test_one[x-y] - AssertionError: boom
        ERROR tests/test_c.py
        FAILED to do something unrelated
        ===== 1 failed, 1 error in 2.0s =====
        """
    )
    assert parse_failures(output) == [
        "FAILED tests/test_a.py::test_one[x-y]",
        "ERROR tests/test_b.py::test_two",
        "ERROR tests/test_c.py",
    ]


def test_find_orphans_on_a_fake_process_table() -> None:
    # Built with os.sep: on Windows the runner compares native paths.
    root = os.path.join(os.sep, "tmp", "mh-stress-x", "run1")
    table = [
        ProcessInfo(pid=1, cmdline=("init",), cwd="/"),
        ProcessInfo(pid=10, cmdline=("python", "-c", "pass"), cwd="/home"),  # descendant
        ProcessInfo(pid=11, cmdline=("sleep", "9"), cwd="/", marker="run-1"),  # marker
        ProcessInfo(pid=12, cmdline=("sleep", "9"), cwd="/", marker="run-0"),  # other run
        ProcessInfo(pid=13, cmdline=("daemon",), cwd=os.path.join(root, "basetemp")),  # inside
        ProcessInfo(pid=14, cmdline=("mock", os.path.join(root, "tmp", "x"))),  # arg inside
        ProcessInfo(pid=15, cmdline=("x",), cwd=root + "0"),  # prefix only
        ProcessInfo(pid=16, cmdline=("pytest",), cwd=root),  # excluded: the runner
    ]
    orphans = find_orphans(table, descendants={10, 16}, marker="run-1", roots=[root], exclude={16})
    assert [proc.pid for proc in orphans] == [10, 11, 13, 14]


def test_process_description_names_pid_command_and_cwd() -> None:
    info = ProcessInfo(pid=42, cmdline=("my tool", "--x"), cwd="/w")
    assert info.describe() == "pid 42: 'my tool' --x (cwd /w)"


# -- stress: real processes ----------------------------------------


def test_scan_processes_sees_a_real_process_with_its_marker_and_cwd(tmp_path: Path) -> None:
    env = {"PATH": "", stress.MARKER_ENV: "marker-123"}
    child = sub.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path / "arg")],
        cwd=tmp_path,
        env=env,
    )
    try:
        orphans = find_orphans(
            stress.scan_processes(), descendants=(), marker="marker-123", roots=[str(tmp_path)]
        )
        assert child.pid in [proc.pid for proc in orphans]
        (found,) = [proc for proc in orphans if proc.pid == child.pid]
        assert found.marker == "marker-123"
        assert found.cwd is not None and Path(found.cwd).resolve() == tmp_path.resolve()
    finally:
        child.kill()
        child.wait()


INNER_TESTS = """
import subprocess, sys, pathlib

def test_passes():
    pass

def test_fails():
    assert 1 == 2

def test_leaves_an_orphan():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    pathlib.Path({pidfile!r}).write_text(str(child.pid))
"""


def _inner_suite(tmp_path: Path, body: str) -> list[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "test_inner.py").write_text(body, encoding="utf-8")
    return [str(tmp_path / "test_inner.py"), "-c", str(tmp_path / "pytest.ini"), "-p", "no:xdist"]


def test_a_stress_run_names_the_failure_with_its_seed_and_kills_the_orphan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pidfile = tmp_path / "orphan.pid"
    inner = _inner_suite(tmp_path, INNER_TESTS.format(pidfile=str(pidfile)))
    # Without the harness plugin nothing sweeps in the inner session: the orphan the
    # stress runner must find (with the plugin, the test's teardown kills it).
    args = stress.StressArgs(runs=1, pytest_args=(*inner, "-p", "no:migration_harness"))
    runs = tmp_path / "runs"
    try:
        outcome = stress.run_once(1, 1, args, runs)
        orphan_pid = int(pidfile.read_text())
        assert outcome.failed
        (failure,) = outcome.failures
        assert failure.startswith("FAILED ")
        assert failure.endswith("test_inner.py::test_fails")
        assert [proc.pid for proc in outcome.orphans] == [orphan_pid]
        assert not psutil.pid_exists(orphan_pid) or (
            psutil.Process(orphan_pid).status() == psutil.STATUS_ZOMBIE
        )
        out = capsys.readouterr().out
        assert f"test_inner.py::test_fails  (seed {outcome.seed})" in out
        assert f"--randomly-seed={outcome.seed}" in out
        assert f"orphan (killed now): pid {orphan_pid}" in out
    finally:
        if pidfile.exists():
            stress.kill_processes([ProcessInfo(pid=int(pidfile.read_text()))])


def test_clean_stress_runs_end_with_the_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _inner_suite(tmp_path, "def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    assert stress.main(["2", *argv]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "stress: 2 runs, 0 failed, 0 orphan processes"
    seeds = [line.split("seed ")[1].split(":")[0] for line in lines if ", seed " in line]
    assert len(seeds) == 2


# A test of the inner suite: the runner's CPU burners are its siblings while it runs.
SEES_THE_BURNERS = """
import os, pathlib, psutil

def test_the_burners_run_beside_the_suite():
    runner = psutil.Process(os.getppid())
    burners = [p for p in runner.children() if {tag!r} in p.cmdline()]
    pathlib.Path({pidfile!r}).write_text(" ".join(str(p.pid) for p in burners))
    assert len(burners) == 2
    assert all(p.status() != psutil.STATUS_ZOMBIE for p in burners)
"""


def test_a_run_under_load_has_its_burners_beside_it_and_stops_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pidfile = tmp_path / "burners.pid"
    body = SEES_THE_BURNERS.format(tag=stress.BURNER_TAG, pidfile=str(pidfile))
    argv = _inner_suite(tmp_path, body)
    assert stress.main(["1", "--load", "2", *argv]) == 0, capsys.readouterr().out
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "stress: 1 runs under load 2, 0 failed, 0 orphan processes"
    seen = [int(pid) for pid in pidfile.read_text().split()]
    announced = [line for line in lines if line.startswith("stress: load 2: ")]
    assert announced == [f"stress: load 2: CPU-burning processes {seen[0]}, {seen[1]}"]
    for pid in seen:  # reaped by the runner before it returned: gone, not even a zombie
        assert not psutil.pid_exists(pid)


def test_a_burner_ends_by_itself_when_its_runner_dies(tmp_path: Path) -> None:
    pidfile = tmp_path / "burner.pid"
    repo_root = Path(__file__).resolve().parent.parent
    # sys.path by hand: an embedded Python (the Windows leg) leaves the working directory out
    runner_code = (
        f"import pathlib, sys, time\nsys.path.insert(0, {str(repo_root)!r})\n"
        "from bench.stress import CpuLoad\n"
        "load = CpuLoad(1).__enter__()\n"
        f"pathlib.Path({str(pidfile)!r}).write_text(f'{{load.pids[0]}}\\n')\n"
        "time.sleep(600)\n"
    )
    runner = sub.Popen([sys.executable, "-c", runner_code], cwd=repo_root)
    try:
        burner = read_pid(pidfile)
        assert psutil.Process(burner).status() != psutil.STATUS_ZOMBIE
    finally:
        runner.kill()  # no chance to stop its burner: the burner must notice alone
        runner.wait()
    ended = gone(burner)
    if not ended:
        stress.kill_processes([ProcessInfo(pid=burner)])
    assert ended, f"burner {burner} outlived its runner"


def test_no_load_starts_no_process() -> None:
    with stress.CpuLoad(0) as load:
        assert load.pids == []
    assert load.left == []


SEES_CTRL_C = """
import signal

def test_ctrl_c_reaches_the_suite():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
"""
# Starts the runner as `cmd &` in a script does: with SIGINT ignored (kept across exec).
IGNORING_SIGINT = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'bench.stress', *sys.argv[1:]])\n"
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signal inheritance")
def test_a_runner_started_with_ctrl_c_ignored_gives_the_suite_ctrl_c_back(
    tmp_path: Path,
) -> None:
    argv = _inner_suite(tmp_path, SEES_CTRL_C)
    repo_root = Path(__file__).resolve().parent.parent
    done = sub.run(
        [sys.executable, "-c", IGNORING_SIGINT, "1", *argv],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "stress: 1 runs, 0 failed, 0 orphan processes"


WAITS_FOR_TERMINATION = """
import os, time
from pathlib import Path

def test_waits():
    Path({started!r} + ".tmp").write_text(str(os.getpid()))
    os.replace({started!r} + ".tmp", {started!r})  # whole, never seen empty
    time.sleep(600)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_terminated_runner_stops_the_suite_run_in_progress(tmp_path: Path) -> None:
    """nox and CI runners stop a session with SIGTERM: the suite run must not go on alone."""
    started = tmp_path / "started"
    argv = _inner_suite(tmp_path, WAITS_FOR_TERMINATION.format(started=str(started)))
    repo_root = Path(__file__).resolve().parent.parent
    runner = sub.Popen(
        [sys.executable, "-m", "bench.stress", "1", *argv],
        cwd=repo_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while not started.exists():
            assert runner.poll() is None, "the runner ended before its suite started"
            assert time.monotonic() < deadline, "the inner suite never started"
            time.sleep(0.05)
        suite = psutil.Process(int(started.read_text()))
        runner.terminate()
        runner.wait(timeout=60)
        psutil.wait_procs([suite], timeout=30)
        assert not suite.is_running() or suite.status() == psutil.STATUS_ZOMBIE
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
