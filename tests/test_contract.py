"""The contract end to end: the reference tool passes it, every mutant is caught by name,
a tool in another language is checked the same way, and pytest users get the same items."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from migration_harness import proc
from migration_harness.contract import CONTRACT_IDS
from migration_harness.contract.checks.crash import LANES_PER_CPU, MAX_LANES
from migration_harness.proc import RunResult
from migration_harness.reference.mutants import CATCHERS, MUTANTS, ONLY_ON
from tests.specfiles import check_env

SHTOOL_SPEC = Path(__file__).parent / "tools" / "shtool" / "migration-harness.toml"
CHECK_TIMEOUT_S = 900
# The whole contract takes about two minutes on a quiet 2-core machine and several times
# that on a loaded one: the suite's per-test bound (300 s) is for hangs, not for this.
pytestmark = pytest.mark.timeout(2 * CHECK_TIMEOUT_S)


# The point that broke the repo, as the crash contract's failure names it.
BROKEN_AT = re.compile(
    r"^crash point (?P<position>\d+) of .*broke the repo:\n\s+crash point \d+"
    r"(?: \(sampled from \d+\))?: (?P<syscall>\w+) (?P<path>\S+): "
    r".*\[process (?P<process>\d+), call #(?P<nth>\d+) of \w+\]",
    re.M,
)


def check(*args: str, cwd: Path) -> RunResult:
    # proc.run kills the whole tree (crash runs sit in sessions of their own) when the
    # check times out or the test is interrupted, so a stopped test leaves no process.
    return proc.run(
        [sys.executable, "-m", "migration_harness", "check", *args],
        cwd=cwd,
        env=check_env(cwd),
        timeout=CHECK_TIMEOUT_S,
    )


def verdict(result: RunResult) -> str:
    lines = [line for line in result.stdout.splitlines() if line.startswith("check: ")]
    assert lines, result.stdout + result.stderr
    return lines[-1]


def test_reference_tool_passes_every_contract(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = check("--report-json", str(report), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    assert verdict(result).startswith("check: PASSED: refrepo")
    data = json.loads(report.read_text(encoding="utf-8"))
    outcomes: dict[str, set[str]] = {}
    for row in data["results"]:
        outcomes.setdefault(row["contract"], set()).add(row["outcome"])
    # Every contract id ran, and none was skipped: the reference declares everything.
    assert set(outcomes) == set(CONTRACT_IDS)
    skipped = {cid for cid, seen in outcomes.items() if seen != {"passed"}}
    if sys.platform != "linux":
        skipped.discard("crash")  # no strace; the hook backend runs instead, still no skip
    assert not skipped, {cid: outcomes[cid] for cid in skipped}
    assert data["platform"] == sys.platform and data["mutant"] is None


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_every_mutant_is_caught_by_its_contract(mutant: str, tmp_path: Path) -> None:
    catchers = CATCHERS[mutant]
    result = check("--mutant", mutant, "--contract", *catchers, cwd=tmp_path)
    line = verdict(result)
    if mutant in ONLY_ON and not sys.platform.startswith(ONLY_ON[mutant]):
        # Replacing a file that is still open is legal on POSIX: the defect only bites
        # on Windows ("Access is denied"), which is why the Windows leg exists.
        assert result.returncode == 0, result.stdout[-4000:]
        return
    assert result.returncode == 1, result.stdout[-4000:]
    broken = line.split(" broke ", 1)[1].split(":", 1)[0].split(", ")
    assert set(broken) & set(catchers), line
    assert f"(mutant {mutant})" in line


@pytest.mark.skipif(sys.platform == "win32", reason="shtool is a POSIX sh script")
def test_a_tool_written_in_sh_is_checked_the_same_way(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = check("--config", str(SHTOOL_SPEC), "--report-json", str(report), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    rows = json.loads(report.read_text(encoding="utf-8"))["results"]
    passed = {r["contract"] for r in rows if r["outcome"] == "passed"}
    assert {"forward", "idempotent", "lock-held", "stale-lock", "concurrent", "ahead"} <= passed
    skipped = {r["contract"]: r["message"] for r in rows if r["outcome"] == "skipped"}
    assert skipped["revert"] == "the target declares no `revert` command"


@pytest.mark.skipif(sys.platform == "win32", reason="shtool is a POSIX sh script")
def test_a_broken_sh_tool_fails_naming_the_contract(tmp_path: Path) -> None:
    """The same tool with its lock removed: the contract must say which promise broke."""
    spec = _variant(
        tmp_path,
        ('mkdir "$lock" 2>/dev/null ||', "true ||"),
        ("trap 'rmdir \"$lock\"' EXIT", ":"),
    )
    result = check("--config", str(spec), "--contract", "lock-held", cwd=tmp_path)
    assert result.returncode == 1
    assert "broke lock-held" in verdict(result)
    assert "exit 0, expected a refusal" in result.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="deterministic crash points need strace")
def test_crash_points_find_an_in_place_write_in_a_sh_tool(tmp_path: Path) -> None:
    """shtool with its atomic write turned into an in-place write is broken when killed
    between truncating and writing a file: the strace backend must find that write."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    spec = _variant(
        tmp_path,
        ('  tmp="$1.tmp.$$"\n  cat > "$tmp" && mv -f "$tmp" "$1"', '  cat > "$1"'),
    )
    report = tmp_path / "report.json"
    result = check(
        "--config",
        str(spec),
        "--contract",
        "crash",
        "--crash-backend",
        "strace",
        "--report-json",
        str(report),
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout[-4000:]
    assert "broke crash" in verdict(result)
    assert re.search(
        r"broke the repo:\n\s+crash point \d+: write \S*/repo/(items\.csv|version)", result.stdout
    )


@pytest.mark.skipif(sys.platform != "linux", reason="deterministic crash points need strace")
@pytest.mark.parametrize("mutant", ["inplace-config", "version-first"])
def test_strace_breaks_a_crash_mutant_at_the_same_point_every_run(
    mutant: str, tmp_path: Path
) -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    seen = []
    # One run with its points one at a time, one with them in two lanes side by side
    # (each lane on its own copy of the repo): the same point breaks the repo.
    for run, lanes in (("first", "1"), ("second", "2")):
        workdir = tmp_path / run
        workdir.mkdir()
        args = ("--mutant", mutant, "--contract", "crash", "--crash-backend", "strace")
        result = check(*args, "-j", lanes, cwd=workdir)
        assert result.returncode == 1, result.stdout[-4000:]
        found = BROKEN_AT.search(result.stdout)
        assert found, result.stdout[-4000:]
        assert "not reproducible" not in result.stdout, result.stdout[-4000:]
        # The point's identity: its position, the call (syscall, which process, its count
        # there) and the file. Not the bytes written: a SQLite journal's header is random.
        path = re.sub(r"mh-crash-[\w.-]*?-\w{8}(?=/)", "TMP", found["path"])
        path = re.sub(r"\.tmp-\d+", ".tmp-PID", path)
        path = re.sub(r"/points/\d+(?=/)", "", path)  # lane 00's repo, where points are planned
        path = re.sub(r"mh-run-[^/]+", "RUN", path)  # each run's own scratch root
        path = path.replace(str(workdir), "WORKDIR")  # each run's temp dir is in its workdir
        point = (found["position"], found["syscall"], found["process"], found["nth"], path)
        seen.append(point)
    assert seen[0] == seen[1]


@pytest.mark.skipif(sys.platform != "linux", reason="deterministic crash points need strace")
def test_a_repo_state_already_checked_is_not_read_again(tmp_path: Path) -> None:
    # Nearly every re-run after a crash ends in the same bytes: those are read once, and
    # the note says how often a read was saved. The lanes (by default two per CPU) share
    # what they have checked.
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    report = tmp_path / "report.json"
    args = ("--contract", "crash", "--crash-backend", "strace", "--report-json", str(report))
    result = check(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    lanes = min(LANES_PER_CPU * (os.cpu_count() or 1), MAX_LANES)
    assert f"crash points (strace, {lanes} lanes)" in result.stdout, result.stdout[-4000:]
    (case,) = json.loads(report.read_text(encoding="utf-8"))["results"]
    found = re.search(r"(\d+) of \d+ points; (\d+) repeated repo states not", case["message"])
    assert found, case["message"]
    # two reads a point (after the crash, after the re-run), each state's first one done
    assert 0 < int(found[2]) < 2 * int(found[1]), case["message"]


@pytest.mark.skipif(sys.platform != "linux", reason="deterministic crash points need strace")
def test_crash_lanes_suit_a_tool_that_keeps_its_repos_absolute_path_inside(
    tmp_path: Path,
) -> None:
    # Like a config naming its database file: a lane with a copy of another lane's repo
    # would migrate that other repo; each lane creates its own.
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    spec = _variant(
        tmp_path,
        ('    mkdir -p "$repo"\n', '    mkdir -p "$repo"\n    echo "$repo" > "$repo/home"\n'),
        (
            "    to=${3:?target version}\n",
            '    to=${3:?target version}\n    repo=$(cat "$repo/home")\n',
        ),
    )
    args = ("--config", str(spec), "--contract", "crash", "--crash-backend", "strace")
    result = check(*args, "-j", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "2 lanes" in result.stdout, result.stdout[-4000:]
    assert "not reproducible" not in result.stdout, result.stdout[-4000:]


def _variant(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """A copy of shtool with ``edits`` applied, and its spec beside it."""
    tool_dir = tmp_path / "variant"
    tool_dir.mkdir()
    source = (SHTOOL_SPEC.parent / "shtool").read_text(encoding="utf-8")
    for old, new in edits:
        assert old in source
        source = source.replace(old, new)
    (tool_dir / "shtool").write_text(source, encoding="utf-8")
    spec = tool_dir / "migration-harness.toml"
    spec.write_text(SHTOOL_SPEC.read_text(encoding="utf-8"), encoding="utf-8")
    return spec


def test_unknown_contract_and_mutant_are_usage_errors(tmp_path: Path) -> None:
    for args, named in (
        (["--contract", "forwards"], "forwards"),
        (["--mutant", "nope"], "nope"),
        (["--config", str(SHTOOL_SPEC), "--contract", "revert"], "no `revert` command"),
        (["--config", str(SHTOOL_SPEC), "--mutant", "no-lock"], "reference tool only"),
    ):
        result = check(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert named in result.stderr
        assert "Traceback" not in result.stderr


def test_progress_counts_cases_when_check_runs_them_in_parallel(tmp_path: Path) -> None:
    result = check("--contract", "forward", "ahead", "--", "-n", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    # Options after -- turn pytest's own output on: its progress letters may precede a line.
    progress = re.findall(r"^[.FsE]*\[(\d+)/(\d+)\] ", result.stdout, re.M)
    assert [int(done) for done, _ in progress] == [1, 2, 3, 4], result.stdout
    assert {total for _, total in progress} == {"4"}, result.stdout


def test_list_mutants(tmp_path: Path) -> None:
    result = check("--list-mutants", cwd=tmp_path)
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == list(MUTANTS)


def test_contract_inside_a_users_pytest_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_users_own():\n    assert True\n")
    pytester.makeini("[pytest]\nmh_contract = reference\n")
    result = pytester.runpytest_subprocess(
        "-v", "-p", "no:randomly", "--mh-contract-id", "ahead", "--mh-contract-id", "idempotent"
    )
    result.stdout.re_match_lines(
        [
            r".*test_users_own PASSED",
            r"contract::idempotent\[4-4\] PASSED",
            r"contract::ahead\[5\] PASSED",
        ]
    )
    result.assert_outcomes(passed=3)


def test_contract_failure_shows_commands_and_keeps_the_repo(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p",
        "no:randomly",
        "--mh-contract",
        "reference",
        "--mh-contract-id",
        "ahead",
        "--mh-mutant",
        "ahead-downgrade",
    )
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r"contract::ahead\[5\] broken",
            r"first run on a repo at version 5: exit 0, expected a refusal",
            r"commands run \(oldest first\):",
            r".*migration_harness.reference stamp .* -> exit 0",
            r"scratch directory kept for inspection:",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    kept = [line for line in result.outlines if "scratch directory kept" in line]
    path = Path(kept[0].split(": ", 1)[1].strip())
    assert (path / "repo" / "version").is_file()
    shutil.rmtree(path)


MIGRATING_DAEMON_SPEC = Path(__file__).parent / "tools" / "refrepo-migrating-daemon.toml"


def test_a_daemon_that_migrates_on_start(tmp_path: Path) -> None:
    result = check("--config", str(MIGRATING_DAEMON_SPEC), "--contract", "daemon", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]


def test_a_daemon_that_claims_to_migrate_on_start_but_does_not(tmp_path: Path) -> None:
    spec = tmp_path / "migration-harness.toml"
    text = MIGRATING_DAEMON_SPEC.read_text(encoding="utf-8")
    spec.write_text(text.replace(', "--migrate"]', "]"), encoding="utf-8")
    result = check("--config", str(spec), "--contract", "daemon", cwd=tmp_path)
    assert result.returncode == 1
    assert "after the first daemon start: version is 1, expected 4" in result.stdout


def test_a_failed_step_rolled_back_to_the_same_bytes_is_read_once(tmp_path: Path) -> None:
    # Each injected failure the tool rolls back leaves the repo as it found it: the
    # version of those bytes is read once. (The no-rollback mutant shows the loop fails.)
    report = tmp_path / "report.json"
    args = ("--contract", "backups", "--serial", "--report-json", str(report))
    result = check(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    for case in json.loads(report.read_text(encoding="utf-8"))["results"]:
        found = re.fullmatch(
            r"(\d+) failure points; (\d+) repeated repo states not.*", case["message"]
        )
        assert found, case["message"]
        assert 0 < int(found[2]) < int(found[1]), case["message"]
