"""``init --preset sql-migrate``: the spec read from a copy of the gallery's sample project,
the user-facing errors, and the contract run end to end with the real sql-migrate."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migration_harness.presets.sql_migrate import migration_ids, plan
from migration_harness.scaffold import SPEC_FILE
from tests import sub
from tests.specfiles import python_m

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SAMPLE = Path(__file__).resolve().parents[1] / "gallery" / "sql-migrate"
VERSIONS = ["1_create_notes.sql", "2_add_slug.sql", "3_fill_slug.sql"]
TIMEOUT_S = 120
CHECK_TIMEOUT_S = 600
SQL_MIGRATE = shutil.which("sql-migrate")
needs_sql_migrate = pytest.mark.skipif(
    SQL_MIGRATE is None,
    reason="sql-migrate is not on PATH (Debian/Ubuntu: apt-get install sql-migrate; "
    "elsewhere: go install the rubenv/sql-migrate module's sql-migrate command)",
)


def run(
    *args: str | Path, cwd: Path, timeout: float = TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    return python_m("migration_harness", *args, cwd=cwd, timeout=timeout)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the gallery's sql-migrate sample (dbconfig.yml, migrations/)."""
    root = tmp_path / "notes"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("probes", "*.md"))
    return root


def init_spec(project: Path, *flags: str) -> dict[str, Any]:
    result = run("init", "--preset", "sql-migrate", *flags, ".", cwd=project)
    assert result.returncode == 0, result.stderr
    with open(project / SPEC_FILE, "rb") as file:
        target: dict[str, Any] = tomllib.load(file)["target"]
    return target


def init_error(project: Path, *flags: str) -> str:
    result = run("init", "--preset", "sql-migrate", *flags, ".", cwd=project)
    assert result.returncode == 2, result.stdout + result.stderr
    assert not (project / SPEC_FILE).exists()
    assert "Traceback" not in result.stderr
    return result.stderr


# --- the spec read from the project ---------------------------------------------------


def test_spec_reads_versions_table_and_dir_from_the_sample(project: Path) -> None:
    target = init_spec(project)
    assert target["versions"] == VERSIONS
    assert target["future_version"] == "4_future.sql"
    assert target["content"] == "per-version"
    assert target["on_ahead"] == "refuse"
    assert target["lock"] == {"path": "{repo}", "style": "sqlite"}
    create = target["create"]
    adapter = ["{python}", "-m", "migration_harness.presets.sql_migrate", "migrate", "{repo}"]
    assert create[:5] == adapter
    assert create[create.index("--dir") + 1] == "{here}/migrations"
    assert create[create.index("--env") + 1] == "development"
    assert create[create.index("--table") + 1] == "gorp_migrations"
    assert target["dump"][-2:] == ["--omit", "gorp_migrations.applied_at"]


def test_flags_choose_the_config_file_environment_and_directory(project: Path) -> None:
    (project / "db" / "sql").mkdir(parents=True)
    for name in ("10_later.sql", "9_first.sql", "zz_unnumbered.sql", "README.txt"):
        (project / "db" / "sql" / name).write_text("-- +migrate Up\n", encoding="utf-8")
    (project / "other.yml").write_text(
        "production:\n  dialect: postgres\n  datasource: x\n"
        "staging:\n  dialect: sqlite3\n  datasource: ${DB}\n  dir: db/sql\n  table: my_log\n",
        encoding="utf-8",
    )
    target = init_spec(project, "--config-file", "other.yml", "--env-name", "staging")
    # sql-migrate's order: numeric prefixes by number, then the rest by name; *.sql only.
    assert target["versions"] == ["9_first.sql", "10_later.sql", "zz_unnumbered.sql"]
    assert target["future_version"] == "zz_unnumbered.sql-future"
    migrate = target["migrate"]
    assert migrate[migrate.index("--dir") + 1] == "{here}/db/sql"
    assert migrate[migrate.index("--env") + 1] == "staging"
    assert migrate[migrate.index("--table") + 1] == "my_log"
    assert '"my_log"' in target["version"][-1] and '"my_log"' in target["stamp"][-1]


def test_migrations_dir_flag_overrides_the_config(project: Path) -> None:
    (project / "copy").mkdir()
    for name in VERSIONS[:2]:
        shutil.copy(project / "migrations" / name, project / "copy" / name)
    target = init_spec(project, "--migrations-dir", "copy")
    assert target["versions"] == VERSIONS[:2]
    assert target["future_version"] == "3_future.sql"


# --- what the user is told ------------------------------------------------------------


def test_missing_config_names_the_file_and_flag(project: Path) -> None:
    (project / "dbconfig.yml").unlink()
    message = init_error(project)
    assert "dbconfig.yml" in message and "--config-file" in message


def test_unknown_environment_names_the_environments_found_and_the_flag(project: Path) -> None:
    message = init_error(project, "--env-name", "production")
    assert "'production'" in message and "development" in message and "--env-name" in message


def test_a_server_dialect_without_database_names_the_flag(project: Path) -> None:
    config = project / "dbconfig.yml"
    config.write_text(read(config).replace("sqlite3", "postgres"), encoding="utf-8")
    message = init_error(project)
    assert "development.dialect is 'postgres'" in message
    assert "pass --database postgresql" in message


def test_missing_migrations_directory_names_where_it_came_from(project: Path) -> None:
    shutil.rmtree(project / "migrations")
    message = init_error(project)
    assert "migrations" in message and "development.dir" in message
    assert "--migrations-dir" in message


def test_a_file_name_unfit_for_a_version_name_is_named(project: Path) -> None:
    (project / "migrations" / "4 with space.sql").write_text("", encoding="utf-8")
    message = init_error(project)
    assert "4 with space.sql" in message and "rename" in message


def test_broken_yaml_is_reported_in_one_line(project: Path) -> None:
    (project / "dbconfig.yml").write_text("development: [unclosed\n", encoding="utf-8")
    message = init_error(project)
    assert "not a readable YAML file" in message and "--config-file" in message


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- the adapter's count ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "applied", "expected"),
    [
        ("1_create_notes.sql", [], ("up", 1)),
        ("2_add_slug.sql", [], ("up", 2)),
        ("3_fill_slug.sql", ["1_create_notes.sql"], ("up", 0)),  # newest: plain `up`
        ("1_create_notes.sql", VERSIONS, ("down", 2)),
        ("2_add_slug.sql", VERSIONS, ("down", 1)),
        ("2_add_slug.sql", VERSIONS[:2], None),
        # sql-migrate counts from its last applied migration, catching up on gaps below it.
        ("2_add_slug.sql", ["2_add_slug.sql"], None),
        ("3_fill_slug.sql", [*VERSIONS, "4_future.sql"], ("up", 0)),
    ],
)
def test_plan_counts_from_the_last_applied_migration(
    target: str, applied: list[str], expected: tuple[str, int] | None
) -> None:
    assert plan(VERSIONS, target, applied) == expected


def test_migration_ids_follow_sql_migrate_order(tmp_path: Path) -> None:
    for name in ("b.sql", "100_x.sql", "20_y.sql", "20_a.sql", "a.sql", "x.txt"):
        (tmp_path / name).write_text("", encoding="utf-8")
    (tmp_path / "dir.sql").mkdir()
    assert migration_ids(tmp_path) == ["20_a.sql", "20_y.sql", "100_x.sql", "a.sql", "b.sql"]


# --- end to end, the real sql-migrate ---------------------------------------------------


@needs_sql_migrate
def test_adapter_migrates_a_database_up_and_down_by_name(project: Path, tmp_path: Path) -> None:
    adapter = [sys.executable, "-m", "migration_harness.presets.sql_migrate", "migrate"]
    db = tmp_path / "scratch" / "notes.db"
    db.parent.mkdir()
    before = sorted(p.name for p in project.rglob("*"))

    def to(version: str) -> list[str]:
        result = sub.run(
            [*adapter, str(db), version, "--dir", str(project / "migrations")],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        with sqlite3.connect(db) as connection:
            rows = connection.execute("SELECT id FROM gorp_migrations ORDER BY id").fetchall()
        connection.close()
        return [r[0] for r in rows]

    assert to("2_add_slug.sql") == VERSIONS[:2]
    assert to("3_fill_slug.sql") == VERSIONS
    assert to("1_create_notes.sql") == VERSIONS[:1]
    # Only the database is left beside it (the temporary dbconfig is removed).
    assert sorted(p.name for p in db.parent.iterdir()) == ["notes.db"]
    assert sorted(p.name for p in project.rglob("*")) == before


def check(project: Path, *contracts: str) -> tuple[dict[str, str], str]:
    """Run `check` on the project's spec: each case's outcome by id, and the text report."""
    report = project / "report.json"
    result = run(
        "check",
        "--report-json",
        report,
        "--contract",
        *contracts,
        cwd=project,
        timeout=CHECK_TIMEOUT_S,
    )
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    cases = json.loads(read(report))["results"]
    return {case["case"]: case["outcome"] for case in cases}, result.stdout


@needs_sql_migrate
@pytest.mark.slow
def test_check_gives_the_measured_verdicts(project: Path) -> None:
    init_spec(project)
    outcomes, text = check(project, "forward", "revert", "ahead", "idempotent", "concurrent")
    # A race broke about half of the rounds when measured; with 10 rounds a passing
    # `concurrent` would be a 1-in-400 chance on a machine with no strace.
    expected = {
        "forward[1_create_notes.sql-3_fill_slug.sql]": "passed",
        "forward[2_add_slug.sql-3_fill_slug.sql]": "passed",
        "revert[3_fill_slug.sql-1_create_notes.sql]": "passed",
        "revert[3_fill_slug.sql-2_add_slug.sql]": "passed",
        "ahead[4_future.sql]": "passed",
        "idempotent[3_fill_slug.sql-3_fill_slug.sql]": "passed",
        "concurrent[1_create_notes.sql-3_fill_slug.sqlx4]": "failed",
    }
    assert {k: outcomes.get(k) for k in expected} == expected
    # The evidence under the failed racer: sql-migrate's own message, which it prints on
    # stdout (e.g. `Migration failed: duplicate column name: slug handling 2_add_slug.sql`).
    assert "expected 0\n  stdout: Migration failed: " in text
