"""Is this run a clean refusal? The check every "must refuse" test makes (a repo newer than
the binary, a held lock, a bad flag): exited non-zero, not by timeout, said why, and did
not crash with a stack trace. ``migration_harness.locks.assert_fails_fast`` is the same
check with a lock's wording and a time bound."""

from __future__ import annotations

import re
from typing import Protocol

__all__ = ["TRACEBACK_PATTERNS", "ResultLike", "assert_refuses", "find_traceback"]

#: Lines that mean a tool crashed instead of failing cleanly (Python, Go, Rust, Node, Java).
TRACEBACK_PATTERNS: tuple[str, ...] = (
    r"^Traceback \(most recent call last\):",
    r"^panic: ",
    r"^goroutine \d+ \[",
    r"thread '.*' panicked at",
    r"^\s+at .+:\d+:\d+\)?$",
    r'^Exception in thread "',
)


class ResultLike(Protocol):
    """What the assertions read from a finished run (``migration_harness.proc.RunResult`` fits)."""

    @property
    def returncode(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...
    @property
    def duration(self) -> float: ...
    @property
    def timed_out(self) -> bool: ...
    def describe(self) -> str: ...


def find_traceback(text: str) -> str | None:
    """The first line of ``text`` that looks like a stack trace, or None."""
    for line in text.splitlines():
        if any(re.search(p, line) for p in TRACEBACK_PATTERNS):
            return line
    return None


def assert_refuses(
    result: ResultLike,
    *,
    message: str | None = None,
    within: float | None = None,
    allow_traceback: bool = False,
    because: str = "",
    expected: str = "a clean refusal",
) -> None:
    """Fail unless ``result`` exited non-zero, not by timeout, (within ``within`` seconds),
    with output matching the regex ``message`` and (by default) no stack trace.

    ``because`` finishes the sentence "it exited 0 ..." (e.g. "although the lock was
    held"); the error lists every problem, then ``result.describe()``."""
    problems = []
    if result.timed_out:
        problems.append(f"it timed out instead of failing (after {result.duration:.1f}s)")
    elif result.returncode == 0:
        problems.append(" ".join(filter(None, ("it exited 0", because))))
    if within is not None and result.duration > within:
        problems.append(f"it took {result.duration:.2f}s, more than the allowed {within:g}s")
    output = result.stdout + result.stderr
    if message is not None and not re.search(message, output, re.MULTILINE):
        problems.append(f"its output does not match {message!r}")
    trace = None if allow_traceback else find_traceback(output)
    if trace is not None:
        problems.append(f"it crashed with a stack trace ({trace.strip()!r})")
    if problems:
        raise AssertionError(
            f"expected {expected}: " + "; ".join(problems) + "\n" + result.describe()
        )
