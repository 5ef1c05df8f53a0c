"""Scratch paths are plain; hostile characters appear only in hostile-paths, one case
per kind, so a failure names the character a tool mangles."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from migration_harness.contract._registry import Case, Context
from migration_harness.contract.checks.basic import HOSTILE_DIRS, LONG_PATH, _hostile_repo
from migration_harness.names import plain_name
from tests.specfiles import check

GLOBTOOL = Path(__file__).parent / "tools" / "globtool" / "migration-harness.toml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("forward[0-5]", "forward-0-5"),
        ("hostile-paths[braces]", "hostile-paths-braces"),
        ("a b/c\\d:e", "a-b-c-d-e"),
        ("ünï", "n"),
        ("[]", "x"),
    ],
)
def test_plain_names_hold_only_letters_digits_dot_underscore_dash(text: str, expected: str) -> None:
    assert plain_name(text) == expected


def test_a_glob_expanding_tool_fails_hostile_paths_on_brackets_only(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    args = ["--config", str(GLOBTOOL), "--contract", "forward", "hostile-paths"]
    result = check(*args, "--report-json", str(report), cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    cases = json.loads(report.read_text())["results"]
    failed = sorted(c["case"] for c in cases if c["outcome"] == "failed")
    assert failed == ["hostile-paths[brackets]"], result.stdout[-3000:]
    passed = {c["case"] for c in cases if c["outcome"] == "passed"}
    assert "forward[1-2]" in passed, "plain scratch names: forward tests what it names"
    assert {f"hostile-paths[{kind}]" for kind in HOSTILE_DIRS} - {
        "hostile-paths[brackets]"
    } <= passed


def test_the_long_case_pads_the_repo_path_near_the_windows_limit(tmp_path: Path) -> None:
    ctx = cast(Context, SimpleNamespace(workdir=tmp_path))
    repo = _hostile_repo(ctx, Case("long", {"dir": HOSTILE_DIRS["long"]}))
    assert len(str(repo)) == LONG_PATH < 260, "near MAX_PATH, with room for the repo's files"
    assert repo.parent.parent == tmp_path
