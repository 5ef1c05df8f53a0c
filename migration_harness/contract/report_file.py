"""The ``check --report-json`` file: its one writer and its one reader.

Format 1::

    {"format": 1, "outcome": "passed", "reason": "", "running": [],
     "target": "refrepo", "platform": "linux", "python": "3.12.4", "mutant": null,
     "results": [{"contract": "forward", "case": "forward[1-4]", "outcome": "passed",
                  "duration": 0.41, "tool_seconds": 0.35, "message": ""}]}

``outcome`` is the run's verdict (see :data:`RUN_OUTCOMES`); ``reason`` says why a run
ended in ``error`` or ``interrupted``; ``running`` names the cases an interrupt cut
short. A file without ``format`` was written before the field existed: its outcome is
read from its results. ``tool_seconds`` (optional) is how long the tool's own commands
ran in the case; the rest of ``duration`` is the harness's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migration_harness.errors import MigrationHarnessError

FORMAT = 1

# A case: the tool kept the promise, broke it, could not be checked here, or the
# harness could not run it (a command that cannot start, a harness bug).
CASE_OUTCOMES = ("passed", "failed", "skipped", "error")

# A run: everything kept, a promise broken, the run itself could not be done, cut short.
RUN_OUTCOMES = ("passed", "failed", "error", "interrupted")


class ReportError(MigrationHarnessError, ValueError):
    """A report file is missing, unreadable or not in the expected format (one line)."""


@dataclass
class CaseResult:
    """One contract item of one run."""

    contract: str
    case: str
    outcome: str
    duration: float = 0.0
    message: str = ""
    tool_seconds: float = 0.0
    details: str = field(default="", compare=False)  # the full failure text; not in the file

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "case": self.case,
            "outcome": self.outcome,
            "duration": self.duration,
            "tool_seconds": self.tool_seconds,
            "message": self.message,
        }


@dataclass(frozen=True)
class Report:
    """One ``check --report-json`` file: the results of one OS / Python / mutant run."""

    source: str
    target: str
    platform: str
    python: str
    mutant: str | None
    outcome: str
    results: tuple[CaseResult, ...]
    reason: str = ""
    running: tuple[str, ...] = ()

    @property
    def python_minor(self) -> str:
        """``3.12`` from ``3.12.4``: columns differ by minor version, not by patch."""
        return ".".join(self.python.split(".")[:2])

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "outcome": self.outcome,
            "reason": self.reason,
            "running": list(self.running),
            "target": self.target,
            "platform": self.platform,
            "python": self.python,
            "mutant": self.mutant,
            "results": [r.to_json() for r in self.results],
        }


def write_report(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")


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
    version = data.get("format")
    if version is not None and version != FORMAT:
        raise _bad(source, "format", version, f"{FORMAT} (this migration-harness's format)")
    mutant = data.get("mutant")
    if mutant is not None and not isinstance(mutant, str):
        raise _bad(source, "mutant", mutant, "a string or null")
    items = data.get("results")
    if not isinstance(items, list):
        raise _bad(source, "results", items, "a list of results")
    results = tuple(_parse_result(item, f"results[{i}]", source) for i, item in enumerate(items))
    if version is None:
        outcome = "failed" if any(r.outcome in ("failed", "error") for r in results) else "passed"
    else:
        outcome = _required_str(data, "outcome", source)
        if outcome not in RUN_OUTCOMES:
            raise _bad(source, "outcome", outcome, "one of " + ", ".join(RUN_OUTCOMES))
    return Report(
        source=source,
        target=_required_str(data, "target", source),
        platform=_required_str(data, "platform", source),
        python=_required_str(data, "python", source),
        mutant=mutant,
        outcome=outcome,
        results=results,
        reason=_optional_str(data, "reason", source),
        running=_running(data, source),
    )


def _parse_result(item: Any, where: str, source: str) -> CaseResult:
    if not isinstance(item, dict):
        raise _bad(source, where, item, "an object with contract, case and outcome")
    outcome = _required_str(item, "outcome", source, where)
    if outcome not in CASE_OUTCOMES:
        raise _bad(source, f"{where}.outcome", outcome, "one of " + ", ".join(CASE_OUTCOMES))
    seconds = {key: item.get(key, 0.0) for key in ("duration", "tool_seconds")}
    for key, value in seconds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(source, f"{where}.{key}", value, "a number of seconds")
    return CaseResult(
        contract=_required_str(item, "contract", source, where),
        case=_required_str(item, "case", source, where),
        outcome=outcome,
        duration=float(seconds["duration"]),
        message=_optional_str(item, "message", source, where),
        tool_seconds=float(seconds["tool_seconds"]),
    )


def _running(data: Mapping[str, Any], source: str) -> tuple[str, ...]:
    running = data.get("running") or []
    if not isinstance(running, list) or not all(isinstance(c, str) for c in running):
        raise _bad(source, "running", running, "a list of case names")
    return tuple(running)


def _required_str(data: Mapping[str, Any], key: str, source: str, where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _bad(source, f"{where}.{key}" if where else key, value, "a non-empty string")
    return value


def _optional_str(data: Mapping[str, Any], key: str, source: str, where: str = "") -> str:
    value = data.get(key) or ""
    if not isinstance(value, str):
        raise _bad(source, f"{where}.{key}" if where else key, value, "a string")
    return value


def _bad(source: str, key: str, value: Any, expected: str) -> ReportError:
    shown = "missing" if value is None else f"{json.dumps(value)[:60]}"
    return ReportError(f"report {source}: {key} is {shown}; expected {expected}")
