"""A long case says how far it got: a line in a log (the first at once, then now and
then), a live line on a terminal that the case's result replaces."""

from __future__ import annotations

import io
import re
from pathlib import Path

from migration_harness.contract.report import Reporter
from migration_harness.contract.report_file import CaseResult
from tests.specfiles import CHECK_RUNS, check

pytestmark = CHECK_RUNS


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_the_first_progress_line_at_once_and_then_no_flood() -> None:
    out = io.StringIO()
    reporter = Reporter(out=out, target_name="t")
    for done in range(50):
        reporter.progress("crash[1-4]", f"{done} of 50 crash points (hook)")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines  # later ones wait PROGRESS_EVERY_S (15 s)
    assert re.fullmatch(
        r"  crash\[1-4\]: 0 of 50 crash points \(hook\) \(\d+s into the run\)", lines[0]
    )


def test_a_terminal_gets_one_live_line_that_the_result_wipes() -> None:
    out = Terminal()
    reporter = Reporter(out=out, target_name="t")
    reporter.total = 1
    reporter.progress("crash[1-4]", "0 of 50 crash points (hook)")
    reporter.progress("crash[1-4]", "1 of 50 crash points (hook)")
    assert "\n" not in out.getvalue()
    assert out.getvalue().endswith("\r  crash[1-4]: 1 of 50 crash points (hook)")
    reporter._finish(CaseResult("crash", "crash[1-4]", "passed", 3.0, ""))
    shown = out.getvalue().split("\r")[-1]
    assert shown == "[1/1] crash[1-4]                       ok (3.0s)\n"


def test_check_shows_a_long_cases_progress_in_its_output(tmp_path: Path) -> None:
    result = check("--contract", "concurrent", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    lines = result.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if "round 1 of 3" in line)
    assert re.fullmatch(r"  concurrent\[1-4x4\]: round 1 of 3 \(\d+s into the run\)", lines[first])
    # (later rounds may get a line too on a slow machine: one every 15 s)
    result_line = next(i for i, line in enumerate(lines) if line.startswith("[1/1] concurrent"))
    assert result_line > first
