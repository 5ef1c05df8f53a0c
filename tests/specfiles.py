"""Helpers shared by the spec tests: a small valid spec, writing it, running ``check``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests import sub

GOOD = """
[target]
name = "demo"
oldest = 0
latest = 2
create = ["demo", "init", "{repo}", "{version}"]
migrate = ["demo", "migrate", "{repo}", "--to", "{to}"]
version = ["demo", "version", "{repo}"]
dump = ["demo", "dump", "{repo}"]
"""
CHECK_TIMEOUT_S = 900
#: For modules whose tests run `check`: bounded by the check's own timeout, not the
#: session's shorter per-test default, so that a loaded machine still gets a verdict.
CHECK_RUNS = pytest.mark.timeout(CHECK_TIMEOUT_S + 60)


def write(tmp_path: Path, text: str, name: str = "migration-harness.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check_env(cwd: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a ``check`` run in ``cwd``: its temp dir, where a failed case
    keeps its scratch for the user, is ``cwd/temp``, not the machine's."""
    temp = cwd / "temp"
    temp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(temp), **(extra or {})}


def check(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m migration_harness check`` as a user runs it (``env``: variables added)."""
    return sub.run(
        [sys.executable, "-m", "migration_harness", "check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=check_env(cwd, env),
        timeout=CHECK_TIMEOUT_S,
    )


def summary_row(stdout: str, contract: str) -> list[str]:
    """The summary table's row of ``contract``: cases, passed, failed, skipped, [error,] time."""
    for line in stdout.splitlines():
        cells = line.split()
        if cells and cells[0] == contract and len(cells) in (6, 7):
            return cells[1:]
    raise AssertionError(f"no summary row for {contract}:\n{stdout}")


def python_m(
    *args: str | Path, cwd: Path, timeout: float = CHECK_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """``python -m ARGS`` in ``cwd`` with this interpreter, output captured as text."""
    return sub.run(
        [sys.executable, "-m", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )
