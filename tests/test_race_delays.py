"""Races found every time: where strace runs, ``concurrent`` slows each racer down on
the repo's files so that unguarded steps overlap; elsewhere it races plainly and says so.

Real tools, real strace, real SQLite: a lock-free migrator must fail, the reference tool
(which takes an OS lock) must still pass, and without strace the plain race still runs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from migration_harness.race import delays_unavailable_reason, plan_delays
from tests.specfiles import check

TOOLS = Path(__file__).parent / "tools"
SQLITE_SPEC = TOOLS / "sqlitenolock" / "migration-harness.toml"
ROUND_SPEC = TOOLS / "roundtool" / "migration-harness.toml"
NO_STRACE = delays_unavailable_reason(1.0)
needs_strace = pytest.mark.skipif(NO_STRACE is not None, reason=f"no strace delays: {NO_STRACE}")


def spec_copy(tmp_path: Path, spec: Path, *edits: tuple[str, str]) -> Path:
    """``spec`` with its ``{here}`` filled in and each (old, new) edit made once."""
    text = spec.read_text(encoding="utf-8").replace("{here}", spec.parent.as_posix())
    for old, new in edits:
        assert old in text, (old, text)
        text = text.replace(old, new, 1)
    copy = tmp_path / "migration-harness.toml"
    copy.write_text(text, encoding="utf-8")
    return copy


def concurrent_row(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    report = tmp_path / "report.json"
    result = check(
        *args, "--contract", "concurrent", "--report-json", str(report), cwd=tmp_path, env=env
    )
    assert report.exists(), result.stdout[-3000:] + result.stderr
    (row,) = json.loads(report.read_text(encoding="utf-8"))["results"]
    return row


def path_without_strace() -> dict[str, str]:
    """PATH with every directory that holds a ``strace`` left out (the tools here run
    through the absolute ``{python}``, so they need nothing else from it)."""
    keep = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and shutil.which("strace", path=entry) is None
    ]
    return {"PATH": os.pathsep.join(keep)}


@needs_strace
def test_a_lock_free_sqlite_migrator_is_caught_under_strace_delays(tmp_path: Path) -> None:
    # Ten rounds as a margin: the delays break this migrator in (nearly) every round, and
    # the case stops at the first broken one.
    spec = spec_copy(tmp_path, SQLITE_SPEC, ("rounds = 3", "rounds = 10"))
    row = concurrent_row(tmp_path, "--config", str(spec))
    assert row["outcome"] == "failed", row
    assert row["message"].startswith("round "), row
    assert "(strace delays" in row["message"].split(":", 1)[0], row
    # Its racers apply a step twice: a traceback (duplicate column) or a step recorded twice.
    assert "stack trace" in row["message"] or "content changed" in row["message"], row


@needs_strace
def test_the_reference_tool_passes_concurrent_with_delays(tmp_path: Path) -> None:
    row = concurrent_row(tmp_path)
    assert row["outcome"] == "passed", row
    assert row["message"] == "3 rounds of 4 racers (strace delays)", row


def test_without_strace_the_plain_race_runs_and_says_why(tmp_path: Path) -> None:
    # roundtool breaks in its third round only; two plain rounds pass.
    spec = spec_copy(
        tmp_path, ROUND_SPEC, ("rounds = 5", "rounds = 2"), ('delays = "off"', 'delays = "auto"')
    )
    row = concurrent_row(tmp_path, "--config", str(spec), env=path_without_strace())
    assert row["outcome"] == "passed", row
    assert row["message"].startswith("2 rounds of 3 racers (plain: "), row
    if sys.platform.startswith("linux"):
        assert "strace is not installed" in row["message"], row


def test_forced_strace_delays_without_strace_skip_naming_the_reason(tmp_path: Path) -> None:
    spec = spec_copy(tmp_path, ROUND_SPEC, ('delays = "off"', 'delays = "strace"'))
    row = concurrent_row(tmp_path, "--config", str(spec), env=path_without_strace())
    assert row["outcome"] == "skipped", row
    assert row["message"].startswith('concurrent.delays = "strace": '), row


@needs_strace
def test_a_short_lock_wait_leaves_no_room_for_delays(tmp_path: Path) -> None:
    # 4 racers: the last waits out 3 others, so 0.5 s of lock_wait_s leaves under 0.05 s each.
    waittool = TOOLS / "waittool" / "migration-harness.toml"
    spec = spec_copy(
        tmp_path, waittool, ("lock_wait_s = 2", "lock_wait_s = 0.5\nconcurrent = { rounds = 1 }")
    )
    row = concurrent_row(tmp_path, "--config", str(spec))
    assert "(plain: the time limits leave 0.04s per racer for delays" in row["message"], row


@needs_strace
def test_delays_fall_on_the_repos_paths_only(tmp_path: Path) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside.txt"
    repo.mkdir()
    (repo / "version").write_text("1\n")
    outside.write_text("not the repo\n")
    program = tmp_path / "migrate.py"
    program.write_text(
        "import sys\n"
        "repo, outside = sys.argv[1], sys.argv[2]\n"
        "open(outside).read()\n"
        "version = int(open(repo + '/version').read())\n"
        "with open(repo + '/step.tmp', 'w') as f:\n"
        "    f.write('applied')\n"
        "open(repo + '/version', 'w').write(str(version + 1))\n"
    )
    args = [sys.executable, str(program), str(repo), str(outside)]
    racing = plan_delays(args, env=None, cwd=tmp_path, repo=repo, budget_s=0.5, timeout=120)
    assert racing.name == "strace delays" and racing.why_plain is None
    prefix = list(racing.prefix)
    selected = {prefix[i + 1] for i, arg in enumerate(prefix) if arg == "-P"}
    assert {str(repo / "version"), str(repo / "step.tmp")} <= selected, selected
    assert not {p for p in selected if not p.startswith(str(repo))}, selected
    (inject,) = [arg for arg in prefix if arg.startswith("inject=")]
    delay_us = int(inject.rsplit("delay_exit=", 1)[1])
    assert 0 < delay_us <= 500_000  # the budget spread over the calls it made there
    assert racing.wrap(args)[-len(args) :] == args
    assert (repo / "version").read_text() == "2"  # the traced run was a real migration
