"""The declared lock file belongs to the lock, not to the data: a tool may create it on
any run, refused or not, and no "untouched" or idempotence comparison counts it.
Everything else in the repo is still compared."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.specfiles import check

SPEC = Path(__file__).parent / "tools" / "locktool" / "migration-harness.toml"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="locktool locks with fcntl")


def contracts(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    args = ["--config", str(SPEC), "--contract", "ahead", "idempotent"]
    return check(*args, cwd=tmp_path, env=env)


def test_a_lock_file_created_by_a_refused_run_is_no_change(tmp_path: Path) -> None:
    result = contracts(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert result.stdout.rstrip().splitlines()[-1].startswith("check: PASSED")


def test_anything_else_a_refused_run_leaves_is_still_a_change(tmp_path: Path) -> None:
    result = contracts(tmp_path, LOCKTOOL_LITTER="1")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    assert re.search(r"^added:\s+stray \(", result.stdout, re.M), result.stdout[-3000:]
    assert not re.search(r"^\w+:\s+tool\.lock \(", result.stdout, re.M), "the lock is no change"
