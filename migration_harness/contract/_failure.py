"""How a contract reports a broken promise: what ran, where, and what it printed."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from migration_harness.locks import find_traceback

if TYPE_CHECKING:
    from migration_harness.proc import RunResult


class ContractFailure(AssertionError):
    """A contract item found the tool breaking its promise."""

    def __init__(self, message: str, transcript: Sequence[RunResult] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.transcript = list(transcript)

    def render(self) -> str:
        lines = [self.message]
        if self.transcript:
            lines += ["", "commands run (oldest first):"]
            for i, result in enumerate(self.transcript, 1):
                lines.append(f"  {i:>2}. {_one_line(result)}")
            lines += ["", "last command in detail:", self.transcript[-1].describe()]
        return "\n".join(lines)


class ContractSkip(Exception):
    """The contract cannot run here (a backend is missing): a skip with a reason."""


def _one_line(result: RunResult) -> str:
    outcome = (
        f"timed out after {result.timeout:g}s" if result.timed_out else f"exit {result.returncode}"
    )
    cmd = " ".join(_short(a) for a in result.args)
    return f"{cmd}  -> {outcome} in {result.duration:.2f}s"


def _short(arg: str, limit: int = 60) -> str:
    shown = arg if " " not in arg else repr(arg)
    return shown if len(shown) <= limit else "..." + shown[-(limit - 3) :]


def has_stack_trace(text: str) -> bool:
    """A user-facing error must be a message, never a Python/Go/Rust/Node/JVM stack trace."""
    return find_traceback(text) is not None


def dump_diff(expected: str, actual: str, *, what: str = "dump") -> str:
    diff = difflib.unified_diff(
        expected.splitlines(),
        actual.splitlines(),
        f"{what} before migration",
        f"{what} after",
        lineterm="",
        n=2,
    )
    lines = list(diff)
    if len(lines) > 60:
        lines = [*lines[:60], f"... ({len(lines) - 60} more diff lines)"]
    return "\n".join(lines)


def excerpt(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " ..."
