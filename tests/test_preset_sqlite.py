"""``python -m migration_harness.presets.sqlite``: version, stamp and dump of a SQLite file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tests import sub

TIMEOUT_S = 60


def adapter(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return sub.run(
        [sys.executable, "-m", "migration_harness.presets.sqlite", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def make(db: Path, rows: list[tuple[int, str]], *, applied: str = "2026-01-01") -> None:
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL)")
        con.execute("CREATE UNIQUE INDEX notes_title ON notes (title)")
        con.execute("CREATE TABLE done (name TEXT, applied TEXT)")
        con.executemany("INSERT INTO notes VALUES (?, ?)", rows)
        con.execute("INSERT INTO done VALUES ('0001_initial', ?)", (applied,))
    con.close()


def test_equal_content_dumps_equal_whatever_the_row_order(tmp_path: Path) -> None:
    make(tmp_path / "a.db", [(1, "alpha"), (2, "beta")])
    make(tmp_path / "b.db", [(2, "beta"), (1, "alpha")])
    a, b = adapter("dump", tmp_path / "a.db"), adapter("dump", tmp_path / "b.db")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    assert "column title TEXT notnull=1" in a.stdout
    assert "index notes_title unique=1 on title" in a.stdout
    assert '[1, "alpha"]' in a.stdout


def test_a_changed_row_or_column_shows_in_the_dump(tmp_path: Path) -> None:
    make(tmp_path / "a.db", [(1, "alpha")])
    make(tmp_path / "b.db", [(1, "ALPHA")])
    assert adapter("dump", tmp_path / "a.db").stdout != adapter("dump", tmp_path / "b.db").stdout
    with sqlite3.connect(tmp_path / "b.db") as con:
        con.execute("UPDATE notes SET title = 'alpha'")
        con.execute("ALTER TABLE notes ADD COLUMN slug TEXT")
    con.close()
    assert adapter("dump", tmp_path / "a.db").stdout != adapter("dump", tmp_path / "b.db").stdout


def test_omitted_columns_leave_out_what_differs_between_equal_databases(tmp_path: Path) -> None:
    make(tmp_path / "a.db", [(1, "alpha")], applied="2026-01-01")
    make(tmp_path / "b.db", [(1, "alpha")], applied="2026-02-02")
    plain = [adapter("dump", tmp_path / f"{n}.db").stdout for n in "ab"]
    assert plain[0] != plain[1]
    omit = ("--omit", "done.applied")
    dumps = [adapter("dump", tmp_path / f"{n}.db", *omit).stdout for n in "ab"]
    assert dumps[0] == dumps[1]
    assert '["0001_initial"]' in dumps[0]


def test_version_prints_the_value_and_execute_commits(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    make(db, [])
    query = "SELECT name FROM done ORDER BY name DESC LIMIT 1"
    assert adapter("version", db, query).stdout == "0001_initial\n"
    stamp = adapter("execute", db, "INSERT INTO done VALUES ('0009_future', 'now')")
    assert stamp.returncode == 0, stamp.stderr
    assert adapter("version", db, query).stdout == "0009_future\n"


def test_errors_name_the_file_and_the_problem_without_a_traceback(tmp_path: Path) -> None:
    missing = adapter("version", tmp_path / "none.db", "SELECT 1")
    assert missing.returncode == 1
    assert f"no database file at {tmp_path / 'none.db'}" in missing.stderr
    db = tmp_path / "a.db"
    make(db, [])
    bad = adapter("version", db, "SELECT name FROM missing_table")
    assert bad.returncode == 1
    assert "no such table: missing_table" in bad.stderr and str(db) in bad.stderr
    empty = adapter("version", db, "SELECT name FROM done WHERE 0")
    assert empty.returncode == 1
    assert "found no version" in empty.stderr
    for result in (missing, bad, empty):
        assert "Traceback" not in result.stderr


def test_the_command_line_imports_no_preset_until_one_is_used() -> None:
    # Every command builds init's parser; the presets' flags must not cost their imports
    # (nor need their libraries, e.g. python-dotenv for dbmate).
    result = sub.run(
        [sys.executable, "-X", "importtime", "-m", "migration_harness", "init", "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines()]
    assert "migration_harness.presets" in imported
    assert [m for m in imported if m.startswith("migration_harness.presets.")] == []
    assert "dotenv" not in imported
