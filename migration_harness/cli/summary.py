"""``migration-harness summary``: one contract x OS Markdown table from report files.

The reusable GitHub workflow runs ``migration-harness check --report-json`` on every
OS, then this command on all the reports, appending its output to the job summary.
The report files are read by :mod:`migration_harness.contract.report_file`, the one
owner of their format. A run that was interrupted or could not be done counts as a
failure: it gets a ``run`` row in the table and a line below it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from migration_harness.cli import UsageError
from migration_harness.contract.report_file import (
    CaseResult,
    Report,
    ReportError,
    load_report,
    parse_report,
)

__all__ = ["ReportError", "load_report", "parse_report", "render_summary"]

# The row for the run itself, shown when some run was interrupted or could not be done.
RUN_ROW = "(run)"

# sys.platform values as people say them; the order is the column order.
PLATFORM_NAMES = {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}

# A failure line quotes only the start of a long message: the job summary is a table,
# the full text is in the job log and the report artifact.
MESSAGE_MAX = 200


@dataclass
class Cell:
    """Outcome counts of one contract in one column."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    error: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def render(self) -> str:
        ran = self.passed + self.failed + self.error
        if self.error:
            return f"⚠️ {self.error}/{ran} could not run"
        if self.failed:
            return f"❌ {self.failed}/{ran} failed"
        if self.passed:
            extra = f", {self.skipped} skipped" if self.skipped else ""
            return f"✅ {self.passed}/{ran}{extra}"
        if self.skipped:
            return "⏭ skipped"
        return "—"


@dataclass
class Table:
    """The contract x column grid, with the failures listed below it."""

    columns: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, Cell]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    totals: Cell = field(default_factory=Cell)
    runs: dict[str, str] = field(default_factory=dict)  # column -> unfinished run's outcome


# ---------------------------------------------------------------- rendering


def has_failures(reports: Iterable[Report]) -> bool:
    """True when any run did not pass: a broken contract, an error or an interrupt."""
    return any(report.outcome != "passed" for report in reports)


def build_table(reports: Sequence[Report]) -> Table:
    """Group the results by contract (rows) and by OS, plus Python/mutant/target if they vary."""
    label = _column_labeller(reports)
    table = Table()
    for report in sorted(reports, key=_column_order):
        column = label(report)
        if column not in table.columns:
            table.columns.append(column)
    for report in reports:
        column = label(report)
        if report.outcome in ("error", "interrupted"):
            table.runs[column] = f"⛔ {report.outcome}"
            table.failures.append(_run_line(report, column))
        for result in report.results:
            cells = table.rows.setdefault(result.contract, {})
            cells.setdefault(column, Cell()).add(result.outcome)
            table.totals.add(result.outcome)
            if result.outcome in ("failed", "error"):
                table.failures.append(_failure_line(result, column))
    return table


def render_summary(reports: Sequence[Report]) -> str:
    """The Markdown text: a heading, the table, a totals line and one line per failure."""
    table = build_table(reports)
    targets = sorted({r.target for r in reports})
    lines = [f"### Migration safety contract: {', '.join(targets)}", ""]
    if not table.rows and not table.runs:
        lines.append(f"No contract results in {len(reports)} report(s).")
        return "\n".join(lines) + "\n"
    lines.append("| contract | " + " | ".join(_cell_text(c) for c in table.columns) + " |")
    lines.append("|---|" + "---|" * len(table.columns))
    for contract, cells in table.rows.items():
        row = [cells.get(column, Cell()).render() for column in table.columns]
        lines.append(f"| `{_cell_text(contract)}` | " + " | ".join(row) + " |")
    if table.runs:
        row = [table.runs.get(column, "complete") for column in table.columns]
        lines.append(f"| {RUN_ROW} | " + " | ".join(row) + " |")
    totals = table.totals
    errors = f", {totals.error} could not run" if totals.error else ""
    unfinished = f", {len(table.runs)} run(s) not complete" if table.runs else ""
    lines += [
        "",
        f"**{totals.passed} passed, {totals.failed} failed, {totals.skipped} skipped"
        f"{errors}{unfinished}** in {len(reports)} report(s).",
    ]
    if table.failures:
        lines += ["", "Failures:", "", *table.failures]
    return "\n".join(lines) + "\n"


def _column_labeller(reports: Sequence[Report]) -> Callable[[Report], str]:
    """A function naming a report's column; a dimension shows only if the reports differ in it."""
    several_pythons = len({r.python_minor for r in reports}) > 1
    several_targets = len({r.target for r in reports}) > 1
    any_mutant = any(r.mutant for r in reports)

    def label(report: Report) -> str:
        parts = [PLATFORM_NAMES.get(report.platform, report.platform)]
        if several_pythons:
            parts.append(f"py{report.python_minor}")
        if several_targets:
            parts.append(report.target)
        if any_mutant:
            parts.append(f"mutant {report.mutant}" if report.mutant else "no mutant")
        return " ".join(parts)

    return label


def _column_order(report: Report) -> tuple[int, str, tuple[int, ...], str, str]:
    known = list(PLATFORM_NAMES)
    rank = known.index(report.platform) if report.platform in known else len(known)
    version = tuple(int(p) for p in report.python_minor.split(".") if p.isdigit())
    return (rank, report.platform, version, report.target, report.mutant or "")


def _failure_line(result: CaseResult, column: str) -> str:
    first = result.message.strip().splitlines()[0] if result.message.strip() else "(no message)"
    if len(first) > MESSAGE_MAX:
        first = first[: MESSAGE_MAX - 1] + "…"
    return f"- ❌ `{result.case}` on {column}: {first}"


def _run_line(report: Report, column: str) -> str:
    reason = report.reason.strip().splitlines()[0] if report.reason.strip() else "(no reason)"
    if len(reason) > MESSAGE_MAX:
        reason = reason[: MESSAGE_MAX - 1] + "…"
    return f"- ⛔ run on {column} {report.outcome}: {reason}"


def _cell_text(text: str) -> str:
    # A "|" inside a cell would end it early in GitHub's Markdown tables.
    return text.replace("|", "\\|")


# ---------------------------------------------------------------- command


def write_utf8(text: str) -> None:
    """Print ``text``; as UTF-8 bytes when the console's code page lacks its symbols.

    The job summary file is UTF-8, but Python on Windows may encode a redirected stdout
    with the ANSI code page, which has no check marks.
    """
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
        return
    sys.stdout.write(text)
    sys.stdout.flush()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "summary",
        help="print a contract x OS Markdown table from 'check --report-json' files",
        description=(
            "Read report files written by 'migration-harness check --report-json' and print one "
            "Markdown table (rows: contracts; columns: OS, plus Python version, target or mutant "
            "when the reports differ in them), then a line per failure. Exit status 1 if "
            "anything failed or a run was interrupted or could not be done, 2 if a file is "
            "missing or malformed."
        ),
    )
    parser.add_argument("reports", nargs="+", metavar="FILE", help="report JSON file(s)")
    parser.add_argument(
        "--no-fail",
        action="store_true",
        help="exit 0 even when some contract failed (the table still shows it)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        reports = [load_report(path) for path in args.reports]
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    write_utf8(render_summary(reports))
    return 1 if has_failures(reports) and not args.no_fail else 0
