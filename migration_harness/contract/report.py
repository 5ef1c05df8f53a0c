"""Collect contract outcomes from pytest and render them: progress, table, verdict, JSON.

The run's verdict is one of four (see :data:`RUN_OUTCOMES`); an interrupted or errored
run also says so in the JUnit file (a ``migration_harness_outcome`` property and an
error test case), so no report of such a run reads as a pass.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from migration_harness.contract._pytest import (
    COLLECTOR_NAME,
    ERROR_PROPERTY,
    LIVE_SCRATCH,
    NOTE_PROPERTY,
    PROGRESS,
    TOOL_SECONDS_PROPERTY,
)
from migration_harness.contract.progress import ProgressLines
from migration_harness.contract.report_file import CaseResult, Report, write_report

# The exit status of `check` for each verdict; an interrupted run exits 128 + the signal.
EXIT_CODES = {"passed": 0, "failed": 1, "error": 2}
SIGNAL_NUMBERS = {"SIGINT": 2, "SIGTERM": 15}

# pytest's exit statuses, as ints: the report must work with any ExitCode enum.
_PYTEST_INTERRUPTED, _PYTEST_INTERNAL_ERROR, _PYTEST_USAGE_ERROR = 2, 3, 4

_MARKS = {"passed": "ok", "failed": "FAILED", "skipped": "skipped", "error": "ERROR"}


@dataclass
class Reporter:
    """A pytest plugin object: prints one progress line per case as it finishes."""

    out: IO[str]
    target_name: str
    mutant: str | None = None
    selection: str | None = None  # the -k expression, named if it matches nothing
    results: list[CaseResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why the run itself could not be done
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    signal: str | None = None  # set once a SIGINT/SIGTERM cut the run short
    running: dict[str, None] = field(default_factory=dict)  # started, not finished (in order)
    exitstatus: int | None = None
    scratch: dict[str, Path] = field(default_factory=dict)  # of the cases cut short
    _pending: dict[str, CaseResult] = field(default_factory=dict)
    _terminal: Any = None  # pytest's terminal reporter, when options after -- turned it on
    _lines: ProgressLines | None = None  # progress as lines, where out is no terminal
    #: Case name -> its place in the contract's order: reports keep it however cases ran.
    _order: dict[str, int] = field(default_factory=dict)
    _live_width: int = 0  # of the live progress line on a terminal, to wipe it
    _capture: Any = None  # pytest's capture manager, suspended to show progress

    # --- pytest hooks -----------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        self._terminal = config.pluginmanager.get_plugin("terminalreporter")
        if self._terminal is None:  # pytest's own output would interleave with a live line
            self._capture = config.pluginmanager.get_plugin("capturemanager")
            config.stash[PROGRESS] = self.progress

    def progress(self, case: str, text: str) -> None:
        """A long case's progress: a live line on a terminal, else a line now and then
        (the first at once), so a log never sits silent for a minute."""
        # Called while the case runs, when pytest captures what is printed.
        suspended = self._capture.global_and_fixture_disabled() if self._capture else None
        with suspended or contextlib.nullcontext():
            self._show_progress(case, text)

    def _show_progress(self, case: str, text: str) -> None:
        if _is_terminal(self.out):
            line = f"  {case}: {text}"
            self.out.write("\r" + line.ljust(self._live_width))
            self.out.flush()
            self._live_width = len(line)
            return
        if self._lines is None:
            self._lines = ProgressLines(self.out, self.started)
        self._lines.show(case, text)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # After -k, --lf and the like have deselected what they do not run.
        self._collected([i.nodeid for i in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        # In a parallel run the collection happens in the workers, each the same.
        self._collected(ids)

    def _collected(self, nodeids: list[str]) -> None:
        self.total = max(self.total, self._count(nodeids))
        if not self._order:
            self._order = contract_order(nodeids)

    @staticmethod
    def _count(nodeids: list[str]) -> int:
        return sum(1 for nodeid in nodeids if nodeid.startswith(COLLECTOR_NAME + "::"))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            first = str(report.longrepr).strip().splitlines() or ["(no message)"]
            self.problems.append(f"collecting {report.nodeid or 'the contract'}: {first[-1]}")

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.running[nodeid.split("::", 1)[-1]] = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = report.nodeid.split("::", 1)[-1]
        contract = name.split("[", 1)[0]
        result = self._pending.setdefault(name, CaseResult(contract, name, "passed", 0.0, ""))
        result.duration += report.duration
        for key, value in report.user_properties if report.when == "call" else ():
            if key == TOOL_SECONDS_PROPERTY and isinstance(value, (int, float)):
                result.tool_seconds = float(value)
        if report.failed and result.outcome not in ("failed", "error"):
            errored = report.when != "call" or any(
                key == ERROR_PROPERTY for key, _ in report.user_properties
            )
            result.outcome = "error" if errored else "failed"
            result.details = report.longreprtext
            result.message = _failure_line(report)
        elif report.skipped and result.outcome == "passed":
            result.outcome = "skipped"
            result.message = _skip_reason(report)
        elif report.passed and report.when == "call":
            notes = [str(v) for key, v in report.user_properties if key == NOTE_PROPERTY]
            result.message = "; ".join(notes)
        if report.when == "teardown":
            self.running.pop(name, None)
            self._finish(self._pending.pop(name))

    def pytest_keyboard_interrupt(self) -> None:
        self.signal = self.signal or "SIGINT"

    def pytest_internalerror(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.problems.append(f"pytest internal error: {excinfo.exconly().splitlines()[0]}")

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.exitstatus = int(exitstatus)
        live: dict[str, Path] = session.config.stash.get(LIVE_SCRATCH, {})
        self.scratch = dict(live)
        self._mark_junit(session.config)
        self._order_junit(session.config)

    def interrupt(self, signal_name: str) -> None:
        """Called from the signal handler of `check` before the interrupt unwinds pytest."""
        self.signal = self.signal or signal_name

    def _finish(self, result: CaseResult) -> None:
        self.results.append(result)
        width = len(str(self.total))
        line = f"[{len(self.results):>{width}}/{self.total}] {result.case:<32} "
        line += f"{_MARKS[result.outcome]} ({result.duration:.1f}s)"
        if result.message:
            line += f": {result.message}"
        if self._terminal is not None:
            self._terminal.write_line(line)  # pytest's progress letters may precede it
            return
        if self._live_width:  # wipe the live progress line the result replaces
            self.out.write("\r" + " " * self._live_width + "\r")
            self._live_width = 0
        print(line, file=self.out, flush=True)

    # --- the verdict ------------------------------------------------------------------

    def of(self, outcome: str) -> list[CaseResult]:
        return [r for r in self.in_order() if r.outcome == outcome]

    def in_order(self) -> list[CaseResult]:
        """The results in the contract's order, whatever order the cases finished in."""
        last = len(self._order)
        return sorted(self.results, key=lambda r: self._order.get(r.case, last))

    @property
    def failed(self) -> list[CaseResult]:
        return self.of("failed")

    def outcome(self) -> str:
        """interrupted > error > failed > passed: a run that did not finish never passes."""
        if self.signal or self.exitstatus == _PYTEST_INTERRUPTED:
            return "interrupted"
        if self.problems or self.of("error") or not self.results:
            return "error"
        if self.exitstatus in (None, _PYTEST_INTERNAL_ERROR, _PYTEST_USAGE_ERROR):
            return "error"
        return "failed" if self.failed or self.exitstatus == 1 else "passed"

    def exit_code(self) -> int:
        outcome = self.outcome()
        if outcome == "interrupted":
            return 128 + SIGNAL_NUMBERS.get(self.signal or "SIGINT", 2)
        return EXIT_CODES[outcome]

    def reason(self) -> str:
        """Why an interrupted or errored run is one: a line naming the case or the problem."""
        outcome = self.outcome()
        if outcome == "interrupted":
            by = f"by {self.signal}" if self.signal else "by pytest"
            cases = ", ".join(self.running)
            return f"interrupted {by} " + (f"while running {cases}" if cases else "between cases")
        if outcome != "error":
            return ""
        if self.problems:
            return self.problems[0]
        errors = self.of("error")
        if errors:
            names = ", ".join(r.case for r in errors[:3]) + (", ..." if len(errors) > 3 else "")
            return f"{len(errors)} case(s) could not run ({names}): {errors[0].message}"
        if not self.results:
            if self.selection:
                return f"-k {self.selection!r} matched none of the contract's cases"
            return "no contract case ran"
        return f"pytest exited with status {self.exitstatus}"

    def verdict(self) -> str:
        elapsed = time.monotonic() - self.started
        counts = {o: len(self.of(o)) for o in ("passed", "failed", "skipped", "error")}
        tail = (
            f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
            + (f", {counts['error']} could not run" if counts["error"] else "")
            + f" in {elapsed:.1f}s"
        )
        who = self.target_name + (f" (mutant {self.mutant})" if self.mutant else "")
        outcome = self.outcome()
        if outcome == "failed":
            broken = sorted({r.contract for r in self.failed}) or ["a case outside the contract"]
            return f"check: FAILED: {who} broke {', '.join(broken)}: {tail}"
        if outcome == "passed":
            return f"check: PASSED: {who}: {tail}"
        return f"check: {outcome.upper()}: {who}: {self.reason()}: {tail}"

    # --- rendering ------------------------------------------------------------------

    def table(self, order: tuple[str, ...]) -> str:
        outcomes = ["passed", "failed", "skipped"] + (["error"] if self.of("error") else [])
        rows = [("contract", "cases", *outcomes, "time")]
        for cid in order:
            mine = [r for r in self.results if r.contract == cid]
            if mine:
                counts = [str(sum(r.outcome == o for r in mine)) for o in outcomes]
                seconds = sum(r.duration for r in mine)
                rows.append((cid, str(len(mine)), *counts, f"{seconds:.1f}s"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = []
        for n, row in enumerate(rows):
            cells = [row[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
            ]
            lines.append("  ".join(cells))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def report(self) -> Report:
        return Report(
            source="",
            target=self.target_name,
            platform=sys.platform,
            python=platform.python_version(),
            mutant=self.mutant,
            outcome=self.outcome(),
            results=tuple(self.in_order()),
            reason=self.reason(),
            running=tuple(self.running),
        )

    def write_json(self, path: Path) -> None:
        write_report(self.report(), path)

    def _mark_junit(self, config: pytest.Config) -> None:
        """Say in the JUnit file what the run's outcome was; an unfinished run gets an
        error test case, since CI tools read test cases, not properties."""
        try:
            from _pytest.junitxml import xml_key  # the key record_testsuite_property uses
            from _pytest.reports import TestReport
        except ImportError:  # pragma: no cover - a pytest that moved them
            return
        xml = config.stash.get(xml_key, None)
        if xml is None:
            return
        outcome = self.outcome()
        xml.add_global_property("migration_harness_outcome", outcome)
        if outcome == "passed" or outcome == "failed" or (outcome == "error" and self.results):
            return
        reason = self.reason()
        # The interrupted item's own entry, so that its test case gets the error.
        opened = {str(key[0]): key[0] for key in getattr(xml, "node_reporters", {})}
        for name in list(self.running) or ["check"]:
            nodeid = opened.get(f"{COLLECTOR_NAME}::{name}", f"{COLLECTOR_NAME}::{name}")
            location = (COLLECTOR_NAME, None, str(nodeid))
            error = TestReport(nodeid, location, {}, "failed", reason, "setup")
            done = TestReport(nodeid, location, {}, "passed", None, "teardown")
            xml.pytest_runtest_logreport(error)
            xml.pytest_runtest_logreport(done)

    def _order_junit(self, config: pytest.Config) -> None:
        """Test cases in the JUnit file in the contract's order, as in the other reports
        (pytest writes them in the order they finished, which a parallel run varies)."""
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover - a pytest that moved it
            return
        xml = config.stash.get(xml_key, None)
        ordered = getattr(xml, "node_reporters_ordered", None)
        if not isinstance(ordered, list):
            return
        last = len(self._order)

        def place(reporter: Any) -> int:
            # A finished reporter keeps only its XML element (its name: the case's).
            element = reporter.to_xml()
            return self._order.get(str(element.get("name", "")), last)

        ordered.sort(key=place)


def contract_order(nodeids: list[str]) -> dict[str, int]:
    """Case name -> place: by contract id in the contract's order, then as collected."""
    from migration_harness.contract import CONTRACT_IDS

    names = [n.split("::", 1)[-1] for n in nodeids if n.startswith(COLLECTOR_NAME + "::")]
    rank = {cid: i for i, cid in enumerate(CONTRACT_IDS)}
    names.sort(key=lambda name: rank.get(name.split("[", 1)[0], len(rank)))  # stable
    return {name: i for i, name in enumerate(names)}


def _failure_line(report: pytest.TestReport) -> str:
    """The broken promise for a contract failure; the exception line for anything else."""
    lines = [line.strip() for line in report.longreprtext.splitlines() if line.strip()]
    # pytest-xdist puts a "[gw0] linux -- Python ..." line above the item's own text.
    header = next((n for n, line in enumerate(lines) if line.startswith(COLLECTOR_NAME + "::")), -1)
    if 0 <= header < len(lines) - 1:
        return lines[header + 1]
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return f"harness error: {crash.message.splitlines()[0]}"
    return lines[-1] if lines else ""


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
