"""``init --preset NAME --database postgresql|mariadb``: the presets on a database server.

The specs are written through the real CLI from copies of the gallery's samples, and
checked with ``migration-harness check`` against a real server the harness starts and the
real tools. A missing server, tool or driver skips with what to install.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migration_harness.databases import Database
from migration_harness.presets import PresetError, require_module
from migration_harness.spec import load_target
from tests.specfiles import CHECK_RUNS, check, python_m

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

GALLERY = Path(__file__).resolve().parents[1] / "gallery"
#: The contracts a run checks here: the tool's commands work on the server (the rest,
#: races and crashes, are the gallery's).
BASIC = ("forward", "revert", "ahead")
#: preset -> the Python modules its spec needs (the tool, and the driver per engine).
NEEDS: dict[str, dict[str, tuple[str, ...]]] = {
    "alembic": {"postgresql": ("alembic", "pg8000"), "mariadb": ("alembic", "pymysql")},
    "django": {"postgresql": ("django", "psycopg")},
    "dbmate": {"postgresql": (), "mariadb": ()},
    "sql-migrate": {"postgresql": (), "mariadb": ()},
}
EXECUTABLES = {"dbmate": "dbmate", "sql-migrate": "sql-migrate"}
VARIANTS = [(preset, engine) for preset, engines in NEEDS.items() for engine in engines]


def init(project: Path, preset: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return python_m("migration_harness", "init", "--preset", preset, *flags, ".", cwd=project)


def sample(tmp_path: Path, preset: str) -> Path:
    root = tmp_path / preset
    shutil.copytree(
        GALLERY / preset,
        root,
        ignore=shutil.ignore_patterns("probes", "__pycache__", "migration-harness.toml"),
    )
    return root


def skip_without(preset: str, engine: str) -> None:
    for module in NEEDS[preset][engine]:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install -r gallery/requirements.txt")
    executable = EXECUTABLES.get(preset)
    if executable is not None and shutil.which(executable) is None:
        pytest.skip(f"{executable} is not on PATH (see gallery/README.md)")


def written(project: Path) -> dict[str, Any]:
    text = (project / "migration-harness.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["target"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("preset", "engine"), VARIANTS)
def test_the_spec_names_the_server_and_the_cases_database(
    tmp_path: Path, preset: str, engine: str
) -> None:
    skip_without(preset, engine)
    project = sample(tmp_path, preset)
    result = init(project, preset, "--database", engine)
    assert result.returncode == 0, result.stderr
    target = written(project)
    assert target["database"] == {"engine": engine}
    commands = " ".join(" ".join(target[key]) for key in ("create", "migrate", "version"))
    assert "{database_url}" in commands or "{db_name}" in commands
    assert "{repo}" not in " ".join(target["version"])  # read from the server, not a file
    assert "lock" not in target  # none of these tools locks on a server
    if preset in ("alembic", "sql-migrate"):  # a plain race shows in some rounds only
        assert target["concurrent"]["rounds"] == 40
    loaded = load_target(project / "migration-harness.toml")
    assert loaded.database is not None and loaded.database.engine == engine


@pytest.mark.parametrize(
    ("preset", "value", "expected"),
    [
        ("alembic", "mysql", "--database mysql: unknown database; expected one of sqlite, "
         "postgresql, mariadb"),
        ("django", "mariadb", "--database mariadb: the django preset runs on sqlite, "
         "postgresql, not mariadb"),
    ],
)  # fmt: skip
def test_a_database_the_preset_cannot_run_on_is_refused(
    tmp_path: Path, preset: str, value: str, expected: str
) -> None:
    project = sample(tmp_path, preset)
    result = init(project, preset, "--database", value)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "migration-harness.toml").exists()


def test_a_missing_driver_says_what_to_pip_install() -> None:
    with pytest.raises(PresetError) as caught:
        require_module("mh_no_such_driver", "mh-no-such-driver", "alembic on postgresql")
    assert "alembic on postgresql needs the mh_no_such_driver module" in str(caught.value)
    assert "pip install mh-no-such-driver" in str(caught.value)


def test_sqlite_is_still_the_default(tmp_path: Path) -> None:
    skip_without("sql-migrate", "postgresql")
    project = sample(tmp_path, "sql-migrate")
    assert init(project, "sql-migrate").returncode == 0
    assert "database" not in written(project)


@CHECK_RUNS
@pytest.mark.slow
@pytest.mark.parametrize(("preset", "engine"), VARIANTS)
def test_check_passes_the_basic_contracts_on_the_server(
    tmp_path: Path, preset: str, engine: str, request: pytest.FixtureRequest
) -> None:
    skip_without(preset, engine)
    # The session's server of the engine: a skip with the install command where missing.
    request.getfixturevalue("postgres_server" if engine == "postgresql" else "mariadb_server")
    project = sample(tmp_path, preset)
    assert init(project, preset, "--database", engine).returncode == 0
    result = check("--contract", *BASIC, cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "PASSED" in result.stdout.strip().splitlines()[-1]


# --- the server adapter ------------------------------------------------------------------


def server_adapter(*args: str) -> subprocess.CompletedProcess[str]:
    return python_m("migration_harness.presets.server", *args, cwd=Path.cwd())


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_the_server_adapter_reads_and_stamps_a_version(
    engine: str, request: pytest.FixtureRequest
) -> None:
    db: Database = request.getfixturevalue(engine)
    db.sql("CREATE TABLE applied (v varchar(20)); INSERT INTO applied VALUES ('0002');")
    latest = "SELECT max(v) FROM applied"
    assert server_adapter("version", db.url, latest).stdout.strip() == "0002"
    stamp = server_adapter("execute", db.url, "INSERT INTO applied VALUES ('0009')")
    assert stamp.returncode == 0, stamp.stderr
    assert server_adapter("version", db.url, latest).stdout.strip() == "0009"
    none = server_adapter("version", db.url, "SELECT max(v) FROM applied WHERE v = 'x'")
    assert none.returncode == 1 and "found no version" in none.stderr
    bad = server_adapter("execute", db.url, "INSERT INTO nowhere VALUES (1)")
    assert bad.returncode == 1 and "nowhere" in bad.stderr and "Traceback" not in bad.stderr


def test_the_server_dump_leaves_out_the_omitted_column(postgres: Database) -> None:
    postgres.sql("CREATE TABLE t (id serial, name text); INSERT INTO t (name) VALUES ('a');")
    full = server_adapter("dump", postgres.url).stdout
    omitted = server_adapter("dump", postgres.url, "--omit", "t.id").stdout
    assert full == postgres.dump()
    assert "row public.t ('1','a')" in full
    assert "row public.t (<omitted>,'a')" in omitted


def test_the_server_adapter_refuses_a_url_it_cannot_read() -> None:
    result = server_adapter("version", "sqlite:///x.db", "SELECT 1")
    assert result.returncode == 1
    assert "expected a postgresql:// or mysql:// URL" in result.stderr
