"""The strace crash backend on multi-threaded Go programs.

A Go binary makes each file-system call from whichever of its threads runs the code
at that moment, so strace's per-thread call counts differ from run to run. The
backend counts such a process's calls over all its threads instead; a point that a
run still cannot reproduce is left out with a note, never a harness error.

Tested on a small Go migrator built here with ``go build`` (and its in-place mutant,
which the crash contract must catch at the same point every run) and on Debian's
``sql-migrate`` binary (a real Go tool with SQLite through cgo).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.gobuild import find_go
from bench.gocrash import SPEC, build_gomigrator
from migration_harness.crash._strace import strace_unavailable_reason
from migration_harness.crash._strace_plan import plan_points
from migration_harness.crash._strace_trace import parse_trace, thread_groups
from tests.specfiles import CHECK_RUNS, check

pytestmark = CHECK_RUNS

needs_strace = pytest.mark.skipif(
    strace_unavailable_reason() is not None, reason=str(strace_unavailable_reason())
)
GO = find_go()
needs_go = pytest.mark.skipif(
    GO is None, reason="go is not installed (Debian/Ubuntu: apt-get install golang-go)"
)


# --- planning, from recorded traces ------------------------------------------------------

THREADED_TRACE = """\
100 clone(child_stack=0xc000060000, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_SYSVSEM|CLONE_THREAD|CLONE_SETTLS, tls=0xc000048090) = 101
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 200
100 openat(AT_FDCWD</w>, "/w/repo/data.tmp", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644) = 7</w/repo/data.tmp>
100 write(7</w/repo/data.tmp>, "ab", 2) = 2
101 write(7</w/repo/data.tmp>, "cd", 2) = 2
200 write(3</w/other>, "x", 1) = 1
101 renameat(AT_FDCWD</w>, "/w/repo/data.tmp", AT_FDCWD</w>, "/w/repo/data") = 0
"""  # noqa: E501


LINUX_TRACES = pytest.mark.skipif(
    sys.platform == "win32", reason="strace traces carry Linux paths (strace runs on Linux only)"
)


@LINUX_TRACES
def test_threads_of_one_process_are_told_from_child_processes() -> None:
    calls = parse_trace(THREADED_TRACE.splitlines(keepends=True), "/w")
    assert thread_groups(calls) == {100: 100, 101: 100, 200: 200}


@LINUX_TRACES
def test_points_of_a_threaded_process_count_over_all_its_threads() -> None:
    calls = parse_trace(THREADED_TRACE.splitlines(keepends=True), "/w")
    points, unreachable = plan_points(calls, Path("/w/repo"))
    assert unreachable == []
    described = [(p.syscall, [(i.nth, i.all_threads) for i in p.injections]) for p in points]
    assert described == [
        ("openat", [(1, True)]),
        ("write", [(1, True)]),
        # thread 101's first write: per thread strace would count it as #1 and stop at
        # the wrong call (or never) in a run whose threads take turns differently
        ("write", [(2, True)]),
        ("renameat", [(1, True)]),
    ]
    assert all(p.process == 1 for p in points), "threads are one process"


@LINUX_TRACES
def test_a_single_threaded_process_keeps_its_exact_per_thread_plan() -> None:
    trace = "\n".join(line for line in THREADED_TRACE.splitlines() if "CLONE_THREAD" not in line)
    calls = parse_trace([line + "\n" for line in trace.replace("101 ", "100 ").splitlines()], "/w")
    points, _ = plan_points(calls, Path("/w/repo"))
    assert points and not any(i.all_threads for p in points for i in p.injections)


# --- real Go programs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def gomigrator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if GO is None:
        pytest.skip("go is not installed")
    return build_gomigrator(GO, tmp_path_factory.mktemp("gomigrator"))


def _spec(directory: Path, binary: Path, mutant: str = "") -> Path:
    spec = directory / "migration-harness.toml"
    extra = f'env = {{ GOMIGRATOR_MUTANT = "{mutant}" }}' if mutant else ""
    spec.write_text(SPEC.format(binary=binary, extra=extra))
    return spec


def _crash_check(spec: Path, cwd: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return check(
        "--config", str(spec), "--contract", "crash", "--crash-backend", "strace", *more, cwd=cwd
    )


@needs_strace
@needs_go
def test_a_go_migrator_passes_the_crash_contract_run_after_run(
    gomigrator: Path, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, gomigrator)
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    for _ in range(2):
        result = _crash_check(
            spec, tmp_path, "--report-json", str(report), "--junitxml", str(junit)
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert "harness error" not in result.stdout
        # A passing crash case says which backend ran and how many points it killed.
        note = re.search(
            r"crash\[1-3\]\s+ok \([\d.]+s\): (strace: \d+ of \d+ points.*)$", result.stdout, re.M
        )
        assert note, result.stdout[-2000:]
        (case,) = json.loads(report.read_text())["results"]
        assert case["message"] == note[1]
        assert f'name="migration_harness_note" value="{note[1]}"' in junit.read_text()


@needs_strace
@needs_go
def test_a_go_migrator_writing_in_place_is_caught_at_the_same_point_every_run(
    gomigrator: Path, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, gomigrator, mutant="inplace")
    seen = []
    for _ in range(2):
        result = _crash_check(spec, tmp_path)
        assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
        assert "harness error" not in result.stdout
        found = re.search(r"^crash point (\d+) of \d+ \(strace backend", result.stdout, re.M)
        assert found, result.stdout[-4000:]
        point = re.search(rf"crash point {found[1]}: (\w+) \S+/repo/(\S+):", result.stdout)
        assert point, result.stdout[-4000:]
        seen.append((found[1], point[1], point[2]))
    assert seen[0] == seen[1]


MIGRATIONS = {
    "1_notes.sql": """\
        -- +migrate Up
        CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
        INSERT INTO notes (id, title) VALUES (1, 'Alpha'), (2, 'Beta'), (3, 'Gamma');
        -- +migrate Down
        DROP TABLE notes;
        """,
    "2_slug.sql": """\
        -- +migrate Up
        ALTER TABLE notes ADD COLUMN slug TEXT;
        -- +migrate Down
        ALTER TABLE notes DROP COLUMN slug;
        """,
    "3_fill.sql": """\
        -- +migrate Up
        UPDATE notes SET slug = lower(title);
        -- +migrate Down
        UPDATE notes SET slug = NULL;
        """,
}

SQL_MIGRATE_SPEC = r"""
[target]
name = "sql-migrate"
oldest = 1
latest = 3
create = ["sh", "-c", "mkdir -p \"$1\" && printf 'development:\\n  dialect: sqlite3\\n  datasource: %s/db.sqlite\\n  dir: %s/migrations\\n' \"$1\" \"$3\" > \"$1/dbconfig.yml\" && sql-migrate up -config=\"$1/dbconfig.yml\" -limit=\"$2\" >/dev/null", "sh", "{repo}", "{version}", "{here}"]
migrate = ["sh", "-c", "exec sql-migrate up -config=\"$1/dbconfig.yml\" -limit=$(($3 - $2))", "sh", "{repo}", "{from}", "{to}"]
version = ["{python}", "-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1] + '/db.sqlite').execute('select count(*) from gorp_migrations').fetchone()[0])", "{repo}"]
dump = ["{python}", "-c", "import sqlite3, sys; [print(*r) for r in sqlite3.connect(sys.argv[1] + '/db.sqlite').execute('select id, title from notes order by id')]", "{repo}"]
ignore = ["{repo}/dbconfig.yml"]
crash = { max_points = 12 }
"""  # noqa: E501


@pytest.mark.slow
@needs_strace
@pytest.mark.skipif(
    shutil.which("sql-migrate") is None,
    reason="sql-migrate is not installed (Debian/Ubuntu: apt-get install sql-migrate)",
)
def test_debians_sql_migrate_runs_the_crash_contract_without_a_harness_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "migrations").mkdir()
    for name, text in MIGRATIONS.items():
        (tmp_path / "migrations" / name).write_text(textwrap.dedent(text))
    spec = tmp_path / "migration-harness.toml"
    spec.write_text(SQL_MIGRATE_SPEC)
    result = _crash_check(spec, tmp_path)
    assert "harness error" not in result.stdout, result.stdout[-4000:]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@needs_go
def test_go_lockedfile_is_the_lock_a_go_migrator_takes(gomigrator: Path, tmp_path: Path) -> None:
    # The migrator locks as Go's lockedfile does (flock on Linux): held in that style,
    # the lock makes it refuse, and a lock left behind by a killed holder does not.
    spec = _spec(tmp_path, gomigrator)
    assert 'style = "go-lockedfile"' in spec.read_text()
    result = check("--config", str(spec), "--contract", "lock-held", "stale-lock", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "lock-held" in result.stdout and "stale-lock" in result.stdout


@needs_go
@pytest.mark.skipif(sys.platform != "linux", reason="flock and fcntl locks are apart on Linux")
def test_the_wrong_kernel_lock_style_is_caught_as_a_miss(gomigrator: Path, tmp_path: Path) -> None:
    # On Linux an fcntl lock ("posix") does not block flock(): held that way, the lock
    # never stops the migrator, and the contract says so instead of passing.
    spec = _spec(tmp_path, gomigrator)
    spec.write_text(spec.read_text().replace('"go-lockedfile"', '"posix"'))
    result = check("--config", str(spec), "--contract", "lock-held", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    assert "check: FAILED: gomigrator broke lock-held" in result.stdout
