"""on_lock_held = "wait": lock-held also holds the lock past lock_wait_s, so the tool's own
give-up path runs: it must stop within lock_wait_s (+ slack), non-zero, naming the lock,
without a stack trace, the repo untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.specfiles import CHECK_RUNS, check

SPEC = Path(__file__).parent / "tools" / "waittool" / "migration-harness.toml"

pytestmark = [
    CHECK_RUNS,
    pytest.mark.skipif(sys.platform == "win32", reason="waittool locks with fcntl"),
]


def lock_held(tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    args = ["--config", str(SPEC), "--contract", "lock-held"]
    return check(*args, cwd=tmp_path, env={"WAITTOOL_MODE": mode})


def test_a_tool_that_gives_up_clearly_passes_both_cases(tmp_path: Path) -> None:
    result = lock_held(tmp_path, "")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "lock-held[flock-past-wait]" in result.stdout


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("forever", "still waiting after lock_wait_s + 5s = 7s; killed"),
        ("traceback", "refused with a stack trace instead of a message"),
    ],
)
def test_a_tool_that_never_gives_up_or_dies_with_a_traceback_fails(
    tmp_path: Path, mode: str, why: str
) -> None:
    result = lock_held(tmp_path, mode)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    lines = result.stdout.splitlines()
    failed = [line for line in lines if line.startswith("[") and "FAILED" in line]
    assert len(failed) == 1 and "lock-held[flock-past-wait]" in failed[0], result.stdout[-3000:]
    assert why in failed[0]
