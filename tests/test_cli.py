"""The command line as users meet it: real subprocesses of the installed entry points."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from migration_harness import __version__
from tests import sub


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return sub.run(
        [sys.executable, "-m", "migration_harness", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_version_via_module() -> None:
    result = cli("--version")
    assert result.returncode == 0
    # From a clone or a git install the commit follows: `0.1.0 (commit <sha>)`.
    version = re.escape(__version__)
    commit = r"( \(commit [0-9a-f]{40}(, with uncommitted changes)?\))?"
    assert re.fullmatch(f"migration-harness {version}{commit}", result.stdout.strip())


def test_console_script_is_installed() -> None:
    scripts = Path(sysconfig.get_path("scripts"))
    exe = scripts / ("migration-harness.exe" if sys.platform == "win32" else "migration-harness")
    result = sub.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout


def test_help_lists_the_subcommands() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("check", "init", "summary", "windows"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["frobnicate"], "frobnicate"),
        (["--bogus"], "--bogus"),
        (["check", "--no-such-option"], "--no-such-option"),
        ([], "missing command"),
    ],
)
def test_bad_usage_is_one_line_exit_2_no_traceback(args: list[str], named: str) -> None:
    result = cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.stderr
