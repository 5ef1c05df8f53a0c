"""``migration-harness summary`` on hand-made report files, run as a real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migration_harness.cli.summary import ReportError, load_report, parse_report, render_summary
from tests import sub

TIMEOUT_S = 120


def result(contract: str, case: str, outcome: str, message: str = "") -> dict[str, Any]:
    return {
        "contract": contract,
        "case": case,
        "outcome": outcome,
        "duration": 0.25,
        "message": message,
    }


def report(
    platform: str,
    results: list[dict[str, Any]],
    *,
    python: str = "3.12.4",
    mutant: str | None = None,
    target: str = "refrepo",
) -> dict[str, Any]:
    return {
        "target": target,
        "platform": platform,
        "python": python,
        "mutant": mutant,
        "results": results,
    }


def write(directory: Path, name: str, data: Any) -> Path:
    path = directory / name
    text = data if isinstance(data, str) else json.dumps(data)
    path.write_text(text, encoding="utf-8")
    return path


def summary(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return sub.run(
        [sys.executable, "-m", "migration_harness", "summary", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT_S,
        check=False,
    )


FORWARD_OK = [result("forward", f"forward[{v}-4]", "passed") for v in (1, 2, 3)]


@pytest.fixture
def three_os(tmp_path: Path) -> list[Path]:
    """Linux and macOS pass; Windows fails one forward case; tombstone skipped on macOS."""
    windows_forward = [
        result("forward", "forward[1-4]", "passed"),
        result(
            "forward",
            "forward[2-4]",
            "failed",
            "[WinError 5] Access is denied: 'config.tmp' -> 'config'\nTraceback ...",
        ),
        result("forward", "forward[3-4]", "passed"),
    ]
    tomb = result("tombstone", "tombstone[3-4]", "passed")
    skipped_tomb = result("tombstone", "tombstone[3-4]", "skipped", "no tombstone declared")
    return [
        write(tmp_path, "report-win.json", report("win32", [*windows_forward, tomb])),
        write(tmp_path, "report-linux.json", report("linux", [*FORWARD_OK, tomb])),
        write(tmp_path, "report-mac.json", report("darwin", [*FORWARD_OK, skipped_tomb])),
    ]


def test_table_has_a_row_per_contract_and_a_column_per_os(
    three_os: list[Path], tmp_path: Path
) -> None:
    done = summary(*three_os, cwd=tmp_path)
    lines = done.stdout.splitlines()
    assert "| contract | Linux | macOS | Windows |" in lines
    assert "| `forward` | ✅ 3/3 | ✅ 3/3 | ❌ 1/3 failed |" in lines
    assert "| `tombstone` | ✅ 1/1 | ⏭ skipped | ✅ 1/1 |" in lines
    assert "**10 passed, 1 failed, 1 skipped** in 3 report(s)." in lines


def test_each_failure_is_listed_with_case_and_first_message_line(
    three_os: list[Path], tmp_path: Path
) -> None:
    done = summary(*three_os, cwd=tmp_path)
    failures = [line for line in done.stdout.splitlines() if line.startswith("- ❌")]
    assert failures == [
        "- ❌ `forward[2-4]` on Windows: [WinError 5] Access is denied: 'config.tmp' -> 'config'"
    ]
    assert "Traceback" not in done.stdout


def test_exit_status_is_1_on_failure_and_0_with_no_fail(
    three_os: list[Path], tmp_path: Path
) -> None:
    assert summary(*three_os, cwd=tmp_path).returncode == 1
    relaxed = summary("--no-fail", *three_os, cwd=tmp_path)
    assert relaxed.returncode == 0
    assert "❌ 1/3 failed" in relaxed.stdout


def test_all_passing_reports_exit_0(tmp_path: Path) -> None:
    path = write(tmp_path, "r.json", report("linux", FORWARD_OK))
    done = summary(path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Failures:" not in done.stdout


def test_python_versions_become_columns_only_when_they_differ(tmp_path: Path) -> None:
    same = [
        write(tmp_path, "a.json", report("linux", FORWARD_OK, python="3.12.1")),
        write(tmp_path, "b.json", report("win32", FORWARD_OK, python="3.12.7")),
    ]
    assert "| contract | Linux | Windows |" in summary(*same, cwd=tmp_path).stdout
    several = [
        write(tmp_path, "c.json", report("linux", FORWARD_OK, python="3.13.0")),
        write(tmp_path, "d.json", report("linux", FORWARD_OK, python="3.10.14")),
        write(tmp_path, "e.json", report("win32", FORWARD_OK, python="3.10.11")),
    ]
    out = summary(*several, cwd=tmp_path).stdout
    assert "| contract | Linux py3.10 | Linux py3.13 | Windows py3.10 |" in out


def test_mutant_reports_get_their_own_columns(tmp_path: Path) -> None:
    caught = [result("lock-held", "lock-held[wait]", "failed", "repo changed while locked")]
    paths = [
        write(tmp_path, "clean.json", report("linux", FORWARD_OK)),
        write(tmp_path, "mutant.json", report("linux", caught, mutant="no-lock")),
    ]
    out = summary(*paths, cwd=tmp_path).stdout
    assert "| contract | Linux no mutant | Linux mutant no-lock |" in out
    assert "| `lock-held` | — | ❌ 1/1 failed |" in out


def test_reports_of_one_column_are_added_up(tmp_path: Path) -> None:
    paths = [
        write(tmp_path, "a.json", report("linux", FORWARD_OK[:1])),
        write(tmp_path, "b.json", report("linux", FORWARD_OK[1:])),
    ]
    assert "| `forward` | ✅ 3/3 |" in summary(*paths, cwd=tmp_path).stdout


def test_pipes_in_names_do_not_break_the_table() -> None:
    rendered = render_summary(
        [
            parse_report(
                report("linux", [result("a|b", "a|b[1-2]", "passed")], target="x|y"), "<memory>"
            )
        ]
    )
    assert "| `a\\|b` | ✅ 1/1 |" in rendered


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON (line 1, column 2"),
        ("[]", "the top level is []; expected a JSON object"),
        (
            json.dumps(report("linux", [result("forward", "forward[1-4]", "pass")])),
            'results[0].outcome is "pass"; expected one of passed, failed, skipped',
        ),
        (
            json.dumps({"platform": "linux", "python": "3.12.0", "results": []}),
            "target is missing; expected a non-empty string",
        ),
        (
            json.dumps(report("linux", [{"case": "forward[1-4]", "outcome": "passed"}])),
            "results[0].contract is missing",
        ),
    ],
    ids=["not-json", "not-object", "bad-outcome", "no-target", "no-contract"],
)
def test_malformed_report_is_one_line_naming_the_file_exit_2(
    tmp_path: Path, content: str, expected: str
) -> None:
    good = write(tmp_path, "good.json", report("linux", FORWARD_OK))
    bad = write(tmp_path, "bad.json", content)
    done = summary(good, bad, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""  # no half table
    assert done.stderr.count("\n") == 1, done.stderr
    assert str(bad) in done.stderr and expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    done = summary(tmp_path / "report-nowhere.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"migration-harness: error: report file not found: {tmp_path / 'report-nowhere.json'}"
    )


def test_no_file_at_all_is_a_usage_error(tmp_path: Path) -> None:
    done = summary(cwd=tmp_path)
    assert done.returncode == 2
    assert "FILE" in done.stderr and done.stderr.count("\n") == 1


def test_load_report_raises_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="not found"):
        load_report(tmp_path / "missing.json")


def test_a_report_without_results_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.json", report("linux", []))
    done = summary(path, cwd=tmp_path)
    assert done.returncode == 0
    assert "No contract results in 1 report(s)." in done.stdout


def finished(data: dict[str, Any], outcome: str, reason: str = "") -> dict[str, Any]:
    """A report in format 1, as check writes it."""
    return {**data, "format": 1, "outcome": outcome, "reason": reason, "running": []}


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("interrupted", "interrupted by SIGINT while running forward[3-4]"),
        ("error", "-k 'nope' matched none of the contract's cases"),
    ],
)
def test_an_unfinished_run_counts_as_a_failure_and_shows_in_the_table(
    tmp_path: Path, outcome: str, reason: str
) -> None:
    linux = write(tmp_path, "linux.json", finished(report("linux", FORWARD_OK), "passed"))
    cut = write(tmp_path, "win.json", finished(report("win32", FORWARD_OK[:2]), outcome, reason))
    done = summary(linux, cut, cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    lines = done.stdout.splitlines()
    assert f"| (run) | complete | ⛔ {outcome} |" in lines
    assert f"- ⛔ run on Windows {outcome}: {reason}" in lines
    assert "1 run(s) not complete" in done.stdout


def test_a_case_that_could_not_run_is_not_a_pass(tmp_path: Path) -> None:
    errored = [result("forward", "forward[1-4]", "error", "cannot start 'mytool': not found")]
    path = write(tmp_path, "r.json", finished(report("linux", errored), "error", "1 case"))
    done = summary(path, cwd=tmp_path)
    assert done.returncode == 1
    assert "| `forward` | ⚠️ 1/1 could not run |" in done.stdout
    assert "- ❌ `forward[1-4]` on Linux: cannot start 'mytool': not found" in done.stdout


def test_a_report_of_another_format_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "r.json", {**finished(report("linux", FORWARD_OK), "passed"), "format": 9}
    )
    done = summary(path, cwd=tmp_path)
    assert done.returncode == 2
    assert "format is 9; expected 1" in done.stderr


def test_check_and_summary_share_one_reader(tmp_path: Path) -> None:
    """What the reporter writes, the summary reads back unchanged."""
    from migration_harness.contract.report_file import CaseResult as Written
    from migration_harness.contract.report_file import Report, write_report

    written = Report(
        source="",
        target="refrepo",
        platform="linux",
        python="3.12.4",
        mutant=None,
        outcome="interrupted",
        results=(Written("forward", "forward[1-4]", "passed", 0.5, ""),),
        reason="interrupted by SIGTERM while running forward[2-4]",
        running=("forward[2-4]",),
    )
    path = tmp_path / "r.json"
    write_report(written, path)
    read = load_report(path)
    assert read == Report(**{**written.__dict__, "source": str(path)})
