"""Collect contract outcomes from pytest and render them: progress, table, verdict, JSON."""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from migration_harness.contract._pytest import COLLECTOR_NAME


@dataclass
class CaseResult:
    contract: str
    case: str
    outcome: str  # passed | failed | skipped
    duration: float
    message: str
    details: str = ""


@dataclass
class Reporter:
    """A pytest plugin object: prints one progress line per case as it finishes."""

    out: IO[str]
    target_name: str
    mutant: str | None = None
    results: list[CaseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    _pending: dict[str, CaseResult] = field(default_factory=dict)

    # --- pytest hooks -----------------------------------------------------------

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.total = self._count([i.nodeid for i in items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        # With `check -- -n N` the collection happens in the workers, each the same.
        self.total = max(self.total, self._count(ids))

    @staticmethod
    def _count(nodeids: list[str]) -> int:
        return sum(1 for nodeid in nodeids if nodeid.startswith(COLLECTOR_NAME + "::"))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"collecting {report.nodeid or 'the contract'}: {report.longrepr}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = report.nodeid.split("::", 1)[-1]
        contract = name.split("[", 1)[0]
        result = self._pending.setdefault(name, CaseResult(contract, name, "passed", 0.0, ""))
        result.duration += report.duration
        if report.failed and result.outcome != "failed":
            result.outcome = "failed"
            result.details = report.longreprtext
            result.message = _failure_line(report)
        elif report.skipped and result.outcome == "passed":
            result.outcome = "skipped"
            result.message = _skip_reason(report)
        if report.when == "teardown":
            self._finish(self._pending.pop(name))

    def _finish(self, result: CaseResult) -> None:
        self.results.append(result)
        width = len(str(self.total))
        mark = {"passed": "ok", "failed": "FAILED", "skipped": "skipped"}[result.outcome]
        line = f"[{len(self.results):>{width}}/{self.total}] {result.case:<32} {mark}"
        line += f" ({result.duration:.1f}s)"
        if result.outcome != "passed" and result.message:
            line += f": {result.message}"
        print(line, file=self.out, flush=True)

    # --- rendering ------------------------------------------------------------------

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.outcome == "failed"]

    def table(self, order: tuple[str, ...]) -> str:
        rows = [("contract", "cases", "passed", "failed", "skipped", "time")]
        for cid in order:
            mine = [r for r in self.results if r.contract == cid]
            if not mine:
                continue
            count = {o: sum(r.outcome == o for r in mine) for o in ("passed", "failed", "skipped")}
            seconds = sum(r.duration for r in mine)
            rows.append(
                (
                    cid,
                    str(len(mine)),
                    str(count["passed"]),
                    str(count["failed"]),
                    str(count["skipped"]),
                    f"{seconds:.1f}s",
                )
            )
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

    def verdict(self) -> str:
        elapsed = time.monotonic() - self.started
        count = {o: sum(r.outcome == o for r in self.results) for o in ("passed", "failed")}
        skipped = len(self.results) - count["passed"] - count["failed"]
        tail = (
            f"{count['passed']} passed, {count['failed']} failed, {skipped} skipped "
            f"in {elapsed:.1f}s"
        )
        who = self.target_name + (f" (mutant {self.mutant})" if self.mutant else "")
        if self.errors:
            return f"check: ERROR: {who}: the contract could not be collected"
        if self.failed:
            broken = sorted({r.contract for r in self.failed})
            return f"check: FAILED: {who} broke {', '.join(broken)}: {tail}"
        return f"check: PASSED: {who}: {tail}"

    def json_report(self) -> dict[str, Any]:
        return {
            "target": self.target_name,
            "platform": sys.platform,
            "python": platform.python_version(),
            "mutant": self.mutant,
            "results": [
                {k: v for k, v in asdict(r).items() if k != "details"} for r in self.results
            ],
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.json_report(), indent=2) + "\n", encoding="utf-8")


def _failure_line(report: pytest.TestReport) -> str:
    """The broken promise for a contract failure; the exception line for anything else."""
    lines = [line.strip() for line in report.longreprtext.splitlines() if line.strip()]
    if lines and lines[0].startswith(COLLECTOR_NAME + "::") and len(lines) > 1:
        return lines[1]
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return f"harness error: {crash.message.splitlines()[0]}"
    return lines[-1] if lines else ""


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)
