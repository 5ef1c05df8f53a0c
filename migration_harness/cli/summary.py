"""``migration-harness summary``: one contract x OS Markdown table from report files.

The reusable GitHub workflow runs ``migration-harness check --report-json`` on every
OS, then this command on all the reports, appending its output to the job summary.
The format of a report file is the one ``check --report-json`` writes::

    {"target": "refrepo", "platform": "linux", "python": "3.12.4", "mutant": null,
     "results": [{"contract": "forward", "case": "forward[1-4]", "outcome": "passed",
                  "duration": 0.41, "message": ""}]}
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migration_harness.cli import UsageError

OUTCOMES = ("passed", "failed", "skipped")

# sys.platform values as people say them; the order is the column order.
PLATFORM_NAMES = {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}

# A failure line quotes only the start of a long message: the job summary is a table,
# the full text is in the job log and the report artifact.
MESSAGE_MAX = 200


class ReportError(ValueError):
    """A report file is missing, unreadable or not in the expected format (one line)."""


@dataclass(frozen=True)
class CaseResult:
    """One contract item of one report."""

    contract: str
    case: str
    outcome: str
    duration: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class Report:
    """One ``check --report-json`` file: the results of one OS / Python / mutant run."""

    source: str
    target: str
    platform: str
    python: str
    mutant: str | None
    results: tuple[CaseResult, ...]

    @property
    def python_minor(self) -> str:
        """``3.12`` from ``3.12.4``: columns differ by minor version, not by patch."""
        return ".".join(self.python.split(".")[:2])


@dataclass
class Cell:
    """Outcome counts of one contract in one column."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def render(self) -> str:
        ran = self.passed + self.failed
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


# ---------------------------------------------------------------- loading


def load_report(path: str | Path) -> Report:
    """Read and check one report file; :class:`ReportError` names the file and the problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"report file not found: {source}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ReportError(f"cannot read report {source}: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"report {source} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); expected the file written by 'migration-harness check --report-json'"
        ) from None
    return parse_report(data, source)


def parse_report(data: Any, source: str) -> Report:
    """Check the structure of decoded report JSON and build a :class:`Report`."""
    if not isinstance(data, dict):
        raise _bad(source, "the top level", data, "a JSON object")
    mutant = data.get("mutant")
    if mutant is not None and not isinstance(mutant, str):
        raise _bad(source, "mutant", mutant, "a string or null")
    results = data.get("results")
    if not isinstance(results, list):
        raise _bad(source, "results", results, "a list of results")
    return Report(
        source=source,
        target=_required_str(data, "target", source),
        platform=_required_str(data, "platform", source),
        python=_required_str(data, "python", source),
        mutant=mutant,
        results=tuple(
            _parse_result(item, f"results[{i}]", source) for i, item in enumerate(results)
        ),
    )


def _parse_result(item: Any, where: str, source: str) -> CaseResult:
    if not isinstance(item, dict):
        raise _bad(source, where, item, "an object with contract, case and outcome")
    outcome = _required_str(item, "outcome", source, where)
    if outcome not in OUTCOMES:
        raise _bad(source, f"{where}.outcome", outcome, "one of " + ", ".join(OUTCOMES))
    duration = item.get("duration", 0.0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise _bad(source, f"{where}.duration", duration, "a number of seconds")
    message = item.get("message") or ""
    if not isinstance(message, str):
        raise _bad(source, f"{where}.message", message, "a string")
    return CaseResult(
        contract=_required_str(item, "contract", source, where),
        case=_required_str(item, "case", source, where),
        outcome=outcome,
        duration=float(duration),
        message=message,
    )


def _required_str(data: Mapping[str, Any], key: str, source: str, where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _bad(source, f"{where}.{key}" if where else key, value, "a non-empty string")
    return value


def _bad(source: str, key: str, value: Any, expected: str) -> ReportError:
    shown = "missing" if value is None else f"{json.dumps(value)[:60]}"
    return ReportError(f"report {source}: {key} is {shown}; expected {expected}")


# ---------------------------------------------------------------- rendering


def has_failures(reports: Iterable[Report]) -> bool:
    """True when any contract item in any report failed."""
    return any(r.outcome == "failed" for report in reports for r in report.results)


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
        for result in report.results:
            cells = table.rows.setdefault(result.contract, {})
            cells.setdefault(column, Cell()).add(result.outcome)
            table.totals.add(result.outcome)
            if result.outcome == "failed":
                table.failures.append(_failure_line(result, column))
    return table


def render_summary(reports: Sequence[Report]) -> str:
    """The Markdown text: a heading, the table, a totals line and one line per failure."""
    table = build_table(reports)
    targets = sorted({r.target for r in reports})
    lines = [f"### Migration safety contract: {', '.join(targets)}", ""]
    if not table.rows:
        lines.append(f"No contract results in {len(reports)} report(s).")
        return "\n".join(lines) + "\n"
    lines.append("| contract | " + " | ".join(_cell_text(c) for c in table.columns) + " |")
    lines.append("|---|" + "---|" * len(table.columns))
    for contract, cells in table.rows.items():
        row = [cells.get(column, Cell()).render() for column in table.columns]
        lines.append(f"| `{_cell_text(contract)}` | " + " | ".join(row) + " |")
    totals = table.totals
    lines += [
        "",
        f"**{totals.passed} passed, {totals.failed} failed, {totals.skipped} skipped** "
        f"in {len(reports)} report(s).",
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
            "anything failed, 2 if a file is missing or malformed."
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
