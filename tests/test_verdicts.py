"""`check` verdicts that cannot lie: real `python -m migration_harness check` subprocesses
against tinytool, made to misbehave, interrupted, misconfigured or misused."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

from migration_harness.cli import check as check_module
from migration_harness.contract._failure import harness_error
from tests import sub

TINYTOOL = Path(__file__).parent / "tools" / "tinytool"
SPEC = TINYTOOL / "migration-harness.toml"
CHECK_TIMEOUT_S = 300
# Each test within the bound of the checks it runs, not the session's per-test default.
pytestmark = pytest.mark.timeout(2 * CHECK_TIMEOUT_S + 60)
# The contracts tinytool keeps (it has no lock, no stamp, no revert).
KEPT = ["--contract", "forward", "idempotent"]
# How long a test waits for the tool to reach its slow migration; only a bound, never a pause.
START_TIMEOUT_S = 120


def check_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(scratch), **extra}


def check(
    *args: str, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return sub.run(
        [sys.executable, "-m", "migration_harness", "check", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env or check_env(tmp_path),
        timeout=CHECK_TIMEOUT_S,
    )


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    for marker in ("Traceback", "INTERNALERROR", "pluggy"):
        assert marker not in result.stdout + result.stderr, result.stdout + result.stderr


def write_spec(tmp_path: Path, **replace: str) -> Path:
    """tinytool's spec with some lines swapped (key -> the new line) and its {here} fixed."""
    text = SPEC.read_text(encoding="utf-8").replace("{here}", TINYTOOL.as_posix())
    lines = text.splitlines()
    for key, line in replace.items():
        lines = [line if old.startswith(f"{key} =") else old for old in lines]
        if not any(old.startswith(f"{key} =") for old in text.splitlines()):
            lines.append(line)
    spec = tmp_path / "spec.toml"
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return spec


# ------------------------------------------------------------------- PASSED / FAILED


def test_a_good_tool_passes_with_outcome_in_every_report(tmp_path: Path) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    result = check(
        "--config", str(SPEC), *KEPT, "--report-json", str(report), "--junitxml", str(junit),
        tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert last_line(result.stdout).startswith("check: PASSED: tinytool: "), result.stdout
    data = json.loads(report.read_text(encoding="utf-8"))
    assert (data["format"], data["outcome"]) == (1, "passed")
    assert junit_outcome(junit) == "passed"


def test_a_tool_that_deletes_its_repos_parent_fails_in_a_paragraph(tmp_path: Path) -> None:
    env = check_env(tmp_path, TINYTOOL_MODE="rmparent")
    result = check("--config", str(SPEC), "--contract", "idempotent", tmp_path=tmp_path, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert last_line(result.stdout).startswith("check: FAILED: tinytool broke idempotent")
    assert "the tool's commands removed or changed" in result.stdout
    assert "commands run (oldest first)" in result.stdout
    assert_no_traceback(result)


def test_a_tool_that_hangs_while_crash_points_are_probed_fails(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path, crash='crash = { backend = "hook", hook = true }', timeout_s="timeout_s = 3"
    )
    env = check_env(tmp_path, TINYTOOL_MODE="hang-probe")
    result = check("--config", str(spec), "--contract", "crash", tmp_path=tmp_path, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert last_line(result.stdout).startswith("check: FAILED: tinytool broke crash")
    assert "probing checkpoint 1 timed out" in result.stdout
    assert_no_traceback(result)


# ------------------------------------------------------------------- ERROR


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-k", "forward and ("], "pytest usage error: Wrong expression passed to '-k'"),
        (["-k", "no_such_case"], "-k 'no_such_case' matched none of the contract's cases"),
        (["--", "--no-such-pytest-option"], "unrecognized arguments: --no-such-pytest-option"),
    ],
    ids=["bad-k", "k-matches-nothing", "unknown-pytest-option"],
)
def test_a_run_that_cannot_be_done_is_an_error(tmp_path: Path, args: list[str], says: str) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    result = check(
        "--config", str(SPEC), "--report-json", str(report), "--junitxml", str(junit), *args,
        tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    verdict = last_line(result.stdout)
    assert verdict.startswith("check: ERROR: tinytool: ") and says in verdict, result.stdout
    assert "PASSED" not in result.stdout
    assert json.loads(report.read_text(encoding="utf-8"))["outcome"] == "error"
    if junit.exists():  # pytest writes none when it refuses its own command line
        assert junit_outcome(junit) == "error"
    assert_no_traceback(result)


def test_a_command_that_does_not_exist_is_one_line_naming_it_and_the_path(
    tmp_path: Path,
) -> None:
    spec = write_spec(tmp_path, create='create = ["mh-no-such-tool", "create", "{repo}"]')
    result = check("--config", str(spec), "--contract", "forward", tmp_path=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    verdict = last_line(result.stdout)
    assert verdict.startswith("check: ERROR: tinytool: "), result.stdout
    assert "cannot start 'mh-no-such-tool': not found on the PATH searched: " in verdict
    assert os.environ["PATH"].split(os.pathsep)[0] in verdict
    assert_no_traceback(result)


def test_a_nul_byte_in_an_argument_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, dump='dump = ["{python}", "-c", "pass", "a\\u0000b"]')
    result = check("--config", str(spec), "--contract", "forward", tmp_path=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    # Refused when the spec is loaded, or when the command is started: one line either way.
    if result.stdout:
        assert last_line(result.stdout).startswith("check: ERROR: tinytool: ")
        assert "NUL byte" in last_line(result.stdout)
    else:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize("flag", ["--junitxml", "--report-json"])
def test_an_unwritable_report_destination_stops_the_run_before_it_starts(
    tmp_path: Path, flag: str
) -> None:
    destination = tmp_path / "no-such-dir" / "report"
    result = check("--config", str(SPEC), flag, str(destination), tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""  # no case ran
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and str(destination) in lines[0], result.stderr
    assert not destination.parent.exists()


def test_a_report_destination_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    result = check("--config", str(SPEC), "--report-json", str(tmp_path), tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_no_writable_tmpdir_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path / "missing")}
    result = check("--config", str(SPEC), tmp_path=tmp_path, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"TMPDIR={tmp_path / 'missing'}" in lines[0], result.stderr
    assert result.stdout == ""


def test_a_harness_error_shows_the_exception_and_harness_frames_only() -> None:
    def deep(n: int) -> None:
        if n == 0:
            raise KeyError("repo")
        deep(n - 1)

    try:
        deep(100)
    except KeyError as exc:
        text = harness_error(exc)
    lines = text.splitlines()
    assert lines[0] == "KeyError: 'repo'"
    assert len(lines) <= 30
    assert "--full-trace" in lines[-1]
    assert "test_verdicts.py" not in text  # not a harness frame


def test_a_pytest_internal_error_is_cut_to_the_harness_frames() -> None:
    frames = [
        f'INTERNALERROR>   File "/site-packages/pluggy/_hooks.py", line {n}, in __call__\n'
        "INTERNALERROR>     return self._hookexec(...)\n"
        for n in range(200)
    ]
    text = (
        "INTERNALERROR> Traceback (most recent call last):\n"
        + "".join(frames)
        + 'INTERNALERROR>   File "/x/migration_harness/contract/report.py", line 9, in hook\n'
        "INTERNALERROR>     raise ValueError(name)\n"
        "INTERNALERROR> ValueError: no option named 'x'\n"
    )
    lines = check_module.harness_frames_of(text).splitlines()
    assert len(lines) <= 30
    assert "pluggy" not in "\n".join(lines)
    assert 'migration_harness/contract/report.py", line 9, in hook' in lines[1]
    assert "ValueError: no option named 'x'" in lines


# ------------------------------------------------------------------- pass-through


@pytest.mark.parametrize(
    ("passed_on", "shows"),
    [
        (["-v"], "PASSED"),  # "contract::forward[1-2] PASSED", or "PASSED contract::..." by workers
        (["-rA"], "short test summary info"),
        (["--lf"], ""),
        (["-x"], ""),
        (["-p", "no:randomly"], ""),
        (["-n", "2"], "created: 2/2 workers"),
        (["--full-trace"], ""),
    ],
    ids=["v", "rA", "lf", "x", "no-randomly", "xdist", "full-trace"],
)
def test_options_after_double_dash_reach_pytest(
    tmp_path: Path, passed_on: list[str], shows: str
) -> None:
    result = check("--config", str(SPEC), *KEPT, "--", *passed_on, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert last_line(result.stdout).startswith("check: PASSED: tinytool: 2 passed"), result.stdout
    assert shows in result.stdout
    if passed_on == ["-v"]:
        assert re.search(r"contract::forward\[1-2\] PASSED|PASSED .*contract::forward\[1-2\]",
                         result.stdout), result.stdout  # fmt: skip


def test_last_failed_reruns_only_what_failed(tmp_path: Path) -> None:
    env = check_env(tmp_path, TINYTOOL_MODE="rmparent")
    first = check("--config", str(SPEC), "-k", "forward", tmp_path=tmp_path, env=env)
    assert first.returncode == 1, first.stdout + first.stderr
    again = check("--config", str(SPEC), *KEPT, "--", "--lf", tmp_path=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "run-last-failure: rerun previous" in again.stdout
    assert "[1/1]" in again.stdout  # only the case that failed, not both


# ------------------------------------------------------------------- interrupts


POSIX_SIGNALS = pytest.mark.skipif(
    sys.platform == "win32", reason="Windows cannot send SIGINT or SIGTERM to another process"
)


@POSIX_SIGNALS
@pytest.mark.parametrize(("signame", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_an_interrupted_run_says_so_everywhere_and_leaves_nothing(
    tmp_path: Path, signame: str, code: int
) -> None:
    result, mark = interrupted_check(tmp_path, signame)
    assert result.returncode == code, result.stdout + result.stderr
    verdict = last_line(result.stdout)
    assert verdict.startswith("check: INTERRUPTED: tinytool: "), result.stdout
    assert f"interrupted by {signame} while running forward[1-2]" in verdict
    assert_no_traceback(result)
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert (data["outcome"], data["running"]) == ("interrupted", ["forward[1-2]"])
    assert junit_outcome(tmp_path / "j.xml") == "interrupted"
    errors = ET.parse(tmp_path / "j.xml").getroot().iter("error")
    assert [e.text for e in errors] == [f"interrupted by {signame} while running forward[1-2]"]
    assert survivors(mark) == []
    assert list((tmp_path / "scratch").glob("mh-*")) == []
    summary = sub.run(
        [sys.executable, "-m", "migration_harness", "summary", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=CHECK_TIMEOUT_S,
    )
    assert summary.returncode == 1
    assert "⛔ interrupted" in summary.stdout


@POSIX_SIGNALS
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_an_interrupted_parallel_run_leaves_no_process_and_no_scratch(
    tmp_path: Path, signame: str
) -> None:
    """Two workers, each on a case of its own; the signal reaches `check` alone (a
    SIGTERM from a CI runner), and its workers are stopped with it."""
    result, mark = interrupted_check(tmp_path, signame, "idempotent", "-j", "2")
    assert result.returncode == 128 + getattr(signal, signame), result.stdout + result.stderr
    assert "2 workers" in result.stdout.splitlines()[0], result.stdout
    verdict = last_line(result.stdout)
    assert verdict.startswith("check: INTERRUPTED: tinytool: "), result.stdout
    assert "PASSED" not in result.stdout
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["outcome"] == (
        "interrupted"
    )
    assert survivors(mark) == []
    assert list((tmp_path / "scratch").glob("mh-*")) == []
    assert_no_traceback(result)


@POSIX_SIGNALS
def test_keep_scratch_keeps_and_names_the_interrupted_cases_directory(tmp_path: Path) -> None:
    result, mark = interrupted_check(tmp_path, "SIGINT", "--keep-scratch")
    assert result.returncode == 130, result.stdout + result.stderr
    kept = [line for line in result.stderr.splitlines() if "kept: " in line]
    assert len(kept) == 1 and "forward[1-2]" in kept[0], result.stderr
    path = Path(kept[0].split("kept: ", 1)[1])
    # Under the run's own scratch root, in TMPDIR.
    assert path.parent.parent == tmp_path / "scratch" and (path / "repo" / "version").is_file()
    assert survivors(mark) == []


def interrupted_check(
    tmp_path: Path, signame: str, *extra: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Start `check` on a tool whose migration hangs, signal it once the migration runs."""
    mark = tmp_path / "mark"
    mark.mkdir()
    env = check_env(tmp_path, TINYTOOL_MODE="slow", TINYTOOL_MARK=str(mark))
    args = ["--config", str(SPEC), "--contract", "forward", *extra]
    args += ["--report-json", str(tmp_path / "r.json"), "--junitxml", str(tmp_path / "j.xml")]
    proc = sub.Popen(
        [sys.executable, "-m", "migration_harness", "check", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (mark / "started").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the migration never started"
            time.sleep(0.05)
        proc.send_signal(getattr(signal, signame))
        stdout, stderr = proc.communicate(timeout=CHECK_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), mark


def survivors(mark: Path) -> list[str]:
    """Live processes of this test's tool: those started with its marker directory in their
    environment (the tool) or on their command line (the tool's child)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(proc.info["cmdline"] or [])
        try:
            ours = proc.environ().get("TINYTOOL_MARK") == str(mark)
        except psutil.Error:
            ours = False
        if ours or str(mark) in cmdline:
            found.append(f"{proc.pid}: {cmdline}")
    return found


def junit_outcome(path: Path) -> str | None:
    for prop in ET.parse(path).getroot().iter("property"):
        if prop.get("name") == "migration_harness_outcome":
            return prop.get("value")
    return None


# ------------------------------------------------------------------- parallel


def test_auto_runs_two_workers_per_cpu_and_no_more_than_there_are_cases(tmp_path: Path) -> None:
    # Cases wait much of their time (on locks, racers' delays, daemons): two per CPU.
    report = tmp_path / "r.json"
    # the reference tool's six forward and revert cases
    result = check(
        "--contract", "forward", "revert", "--report-json", str(report), tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    cases = len(json.loads(report.read_text(encoding="utf-8"))["results"])
    per_cpu = 1 if sys.platform == "win32" else 2  # where starting a process is the cost
    workers = min(per_cpu * (os.cpu_count() or 1), cases)
    first = result.stdout.splitlines()[0]
    assert (f"{workers} workers" in first) if workers > 1 else ("workers" not in first), first


def test_a_parallel_run_reports_what_a_serial_run_reports(tmp_path: Path) -> None:
    """Same cases, same outcomes, same order in the JSON report and the JUnit file,
    whichever order the workers finished in."""
    reports = {}
    for mode in ("serial", "parallel"):
        where = tmp_path / mode
        where.mkdir()
        flags = ["--serial"] if mode == "serial" else ["-j", "2"]
        env = check_env(where, TINYTOOL_MODE="rmparent")
        result = check(
            "--config", str(SPEC), *flags, "--report-json", str(where / "r.json"),
            "--junitxml", str(where / "j.xml"), tmp_path=where, env=env,
        )  # fmt: skip
        assert result.returncode == 1, result.stdout + result.stderr
        assert ("2 workers" in result.stdout.splitlines()[0]) == (mode == "parallel")
        data = json.loads((where / "r.json").read_text(encoding="utf-8"))
        junit = [c.get("name") for c in ET.parse(where / "j.xml").getroot().iter("testcase")]
        cases = [(r["case"], r["outcome"]) for r in data["results"]]
        reports[mode] = (data["outcome"], cases, junit, last_line(result.stdout).split(":")[:3])
    assert reports["parallel"] == reports["serial"]
    assert ("forward[1-2]", "failed") in reports["serial"][1]
