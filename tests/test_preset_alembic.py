"""``init --preset alembic`` and its adapter, on a copy of the gallery's alembic sample.

The spec is written and checked through the real CLI, and the adapter runs the real
alembic on real SQLite files. alembic must be importable by this Python (the adapter runs
it here): ``pip install alembic==1.20.1 SQLAlchemy==2.1.9``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migration_harness.crash._strace import strace_unavailable_reason
from migration_harness.spec import load_target
from tests import sub
from tests.specfiles import CHECK_RUNS, check, python_m

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytest.importorskip(
    "alembic",
    reason="alembic is not installed: pip install alembic==1.20.1 SQLAlchemy==2.1.9",
)

SAMPLE = Path(__file__).resolve().parents[1] / "gallery" / "alembic"
REVISIONS = ["1a2b3c4d5e01", "2b3c4d5e6f02", "3c4d5e6f7a03"]
TIMEOUT_S = 600


def init(project: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return python_m("migration_harness", "init", "--preset", "alembic", *flags, ".", cwd=project)


def adapter(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return python_m("migration_harness.presets.alembic", *args, cwd=cwd)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the sample project (its probes left out)."""
    root = tmp_path / "notes"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("probes", "__pycache__"))
    return root


def written_spec(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((project / "migration-harness.toml").read_text("utf-8"))
    return data["target"]  # type: ignore[no-any-return]


def add_revision(project: Path, rev: str, down: str) -> None:
    (project / "migrations" / "versions" / f"{rev}_more.py").write_text(
        f'revision = "{rev}"\ndown_revision = "{down}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n",
        encoding="utf-8",
    )


# --- the spec ---------------------------------------------------------------------------


def test_spec_reads_the_revisions_oldest_first_and_loads(project: Path) -> None:
    result = init(project)
    assert result.returncode == 0, result.stderr
    target = written_spec(project)
    assert target["versions"] == REVISIONS
    assert target["future_version"] not in REVISIONS
    assert target["create"][-2:] == ["--config", "{here}/alembic.ini"]
    assert target["on_ahead"] == "refuse"
    loaded = load_target(project / "migration-harness.toml")
    assert loaded.versions == tuple(REVISIONS)


def test_spec_follows_a_new_revision(project: Path) -> None:
    add_revision(project, "4d5e6f7a8b04", REVISIONS[-1])
    assert init(project).returncode == 0
    assert written_spec(project)["versions"] == [*REVISIONS, "4d5e6f7a8b04"]


def test_config_file_flag_reads_another_config(project: Path) -> None:
    (project / "db").mkdir()
    text = (project / "alembic.ini").read_text("utf-8")
    # A relative script_location is the project root's, where alembic runs.
    moved = text.replace("script_location = %(here)s/migrations", "script_location = migrations")
    (project / "db" / "alembic.ini").write_text(moved, encoding="utf-8")
    (project / "alembic.ini").unlink()
    result = init(project, "--config-file", "db/alembic.ini")
    assert result.returncode == 0, result.stderr
    target = written_spec(project)
    assert target["versions"] == REVISIONS
    assert target["migrate"][-2:] == ["--config", "{here}/db/alembic.ini"]


def refused(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_alembic_missing_from_this_python_says_where_to_install(
    project: Path, tmp_path: Path
) -> None:
    shadow = tmp_path / "shadow" / "alembic"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("no alembic here")\n', "utf-8")
    result = sub.run(
        [sys.executable, "-m", "migration_harness", "init", "--preset", "alembic", "."],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(shadow.parent)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    refused(result, "alembic is not importable by", sys.executable)


def test_missing_config_names_the_file_and_the_flag(project: Path) -> None:
    (project / "alembic.ini").unlink()
    refused(init(project), str(project / "alembic.ini"), "--config-file")
    refused(init(project, "--config-file", "nope.ini"), str(project / "nope.ini"))
    assert not (project / "migration-harness.toml").exists()


def test_missing_script_location_names_the_key(project: Path) -> None:
    ini = project / "alembic.ini"
    ini.write_text(
        ini.read_text("utf-8").replace("script_location = %(here)s/migrations\n", ""), "utf-8"
    )
    refused(init(project), str(ini), "script_location", "--config-file")


def test_missing_migrations_directory_names_the_value(project: Path) -> None:
    shutil.rmtree(project / "migrations")
    refused(init(project), str(project / "alembic.ini"), "script_location = ")


def test_branched_history_is_refused(project: Path) -> None:
    add_revision(project, "9f9f9f9f9f01", REVISIONS[0])  # a second child of the first
    refused(init(project), "2 heads", "9f9f9f9f9f01", "one line of revisions")


def test_a_single_revision_is_not_enough(project: Path) -> None:
    for path in sorted((project / "migrations" / "versions").glob("*.py"))[1:]:
        path.unlink()
    refused(init(project), "found 1 revision", "at least 2")


# --- the adapter --------------------------------------------------------------------------


def test_adapter_migrates_the_file_it_is_given_up_and_down(project: Path, tmp_path: Path) -> None:
    # Characters a URL reads as its own (`%41` would become `A`, `#`, `@`) stay the path's.
    db = tmp_path / "100%-%41 #@" / "repo"
    db.parent.mkdir()
    ini = project / "alembic.ini"
    up = adapter("upgrade", db, REVISIONS[1], "--config", ini, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert version_of(db) == REVISIONS[1]
    down = adapter("downgrade", db, REVISIONS[0], "--config", ini, cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert version_of(db) == REVISIONS[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["100%-%41 #@", "notes"]
    assert not (project / "notes.sqlite3").exists()


def version_of(db: Path) -> str:
    connection = sqlite3.connect(db)
    try:
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        connection.close()
    return str(version)


def test_adapter_refuses_an_env_py_that_connects_elsewhere(project: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "production.sqlite3"
    env_py = project / "migrations" / "env.py"
    text = env_py.read_text("utf-8")
    env_py.write_text(
        text.replace(
            "engine = create_engine(url)", f'engine = create_engine("sqlite:///{foreign}")'
        ),
        "utf-8",
    )
    db = tmp_path / "case" / "repo"
    db.parent.mkdir()
    result = adapter("upgrade", db, "head", "--config", project / "alembic.ini", cwd=db.parent)
    assert result.returncode == 2
    assert str(env_py) in result.stderr
    assert str(foreign) in result.stderr
    assert 'config.get_main_option("sqlalchemy.url")' in result.stderr
    assert "Traceback" not in result.stderr
    assert not foreign.exists()  # refused before connecting: nothing made, nothing migrated
    assert not db.exists()


def test_adapter_passes_alembic_refusals_through(project: Path, tmp_path: Path) -> None:
    db = tmp_path / "repo"
    result = adapter(
        "upgrade", db, "4d5e6f7a8b04", "--config", project / "alembic.ini", cwd=tmp_path
    )
    assert result.returncode == 255
    assert "FAILED: Can't locate revision identified by '4d5e6f7a8b04'" in result.stdout


# --- end to end ---------------------------------------------------------------------------


def outcomes_of_check(project: Path, *contracts: str) -> dict[str, str]:
    """The outcome of each case of `check --contract CONTRACTS` in the project."""
    report = project.parent / "report.json"
    result = check("--report-json", str(report), "--contract", *contracts, cwd=project)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    data = json.loads(report.read_text("utf-8"))
    return {r["case"]: r["outcome"] for r in data["results"]}


@CHECK_RUNS
def test_check_gives_alembic_s_measured_verdicts(project: Path) -> None:
    assert init(project).returncode == 0
    outcomes = outcomes_of_check(project, "forward", "ahead", "lock-held", "stale-lock")
    first, mid, last = REVISIONS
    assert outcomes == {
        f"forward[{first}-{last}]": "passed",
        f"forward[{mid}-{last}]": "passed",
        "ahead[ffffffffffff]": "passed",  # FAILED: Can't locate revision ..., untouched
        "lock-held[sqlite]": "passed",
        # alembic gives up after 5 s with a traceback (database is locked)
        "lock-held[sqlite-past-wait]": "failed",
        "stale-lock[sqlite]": "passed",
        "stale-lock[sqlite-past-wait]": "passed",
    }


@CHECK_RUNS
@pytest.mark.slow
@pytest.mark.skipif(
    strace_unavailable_reason() is not None, reason=str(strace_unavailable_reason())
)
def test_check_finds_the_committed_ddl_a_kill_leaves(project: Path) -> None:
    # strace kills at every write: one lands right after ALTER TABLE committed on its own.
    assert init(project).returncode == 0
    outcomes = outcomes_of_check(project, "revert", "crash")
    first, mid, last = REVISIONS
    assert outcomes == {
        f"revert[{last}-{first}]": "passed",
        f"revert[{last}-{mid}]": "passed",
        f"crash[{first}-{last}]": "failed",
    }
