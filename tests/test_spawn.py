"""spawn(): WinError 1359 from CreateProcess (a Wine flake) is retried; nothing else is."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from migration_harness.proc import _spawn
from migration_harness.proc._spawn import ERROR_INTERNAL_ERROR, SPAWN_ATTEMPTS, spawn


class WinError(OSError):
    """An OSError carrying ``winerror`` as CreateProcess failures do on Windows."""

    def __init__(self, code: int) -> None:
        super().__init__(22, "Internal error")
        self.winerror = code


class FlakyStart:
    """Fails ``failures`` times with ``error``, then starts the real process."""

    def __init__(self, failures: int, error: OSError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self, args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return subprocess.Popen(args, **kwargs)


@pytest.fixture
def no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_spawn, "SPAWN_RETRY_DELAY", 0.0)


@pytest.mark.usefixtures("no_delay")
def test_internal_error_is_retried_until_the_process_starts() -> None:
    start = FlakyStart(SPAWN_ATTEMPTS - 1, WinError(ERROR_INTERNAL_ERROR))
    proc = spawn([sys.executable, "-c", "raise SystemExit(7)"], start=start)
    assert proc.wait(timeout=60) == 7
    assert start.calls == SPAWN_ATTEMPTS


@pytest.mark.usefixtures("no_delay")
def test_internal_error_is_raised_after_the_last_attempt() -> None:
    start = FlakyStart(SPAWN_ATTEMPTS, WinError(ERROR_INTERNAL_ERROR))
    with pytest.raises(OSError, match="Internal error"):
        spawn([sys.executable, "-c", "pass"], start=start)
    assert start.calls == SPAWN_ATTEMPTS


@pytest.mark.usefixtures("no_delay")
@pytest.mark.parametrize("error", [WinError(5), FileNotFoundError(2, "no such file")])
def test_other_errors_are_raised_at_once(error: OSError) -> None:
    start = FlakyStart(1, error)
    with pytest.raises(OSError):
        spawn([sys.executable, "-c", "pass"], start=start)
    assert start.calls == 1
