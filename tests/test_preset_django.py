"""``init --preset django``: a spec read from a Django project, run as a user runs it."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from migration_harness import spec
from tests.specfiles import CHECK_RUNS, check, python_m, summary_row

SAMPLE = Path(__file__).resolve().parents[1] / "gallery" / "django"

needs_django = pytest.mark.skipif(
    importlib.util.find_spec("django") is None,
    reason="Django is not installed (pip install -r gallery/requirements.txt)",
)


def init(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return python_m("migration_harness", "init", "--preset", "django", *args, cwd=cwd)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The gallery's Django sample as a user's project: no spec of its own."""
    root = tmp_path / "site"
    ignore = shutil.ignore_patterns("probes", "migration-harness.toml", "__pycache__")
    shutil.copytree(SAMPLE, root, ignore=ignore)
    return root


def test_the_spec_names_the_apps_migrations_and_the_settings_module(project: Path) -> None:
    result = init(cwd=project)
    assert result.returncode == 0, result.stderr
    target = spec.load_target(project / "migration-harness.toml")
    assert target.name == "django-notes"
    assert target.versions == ("0001_initial", "0002_note_slug", "0003_fill_slug")
    assert target.content == "per-version"
    text = (project / "migration-harness.toml").read_text(encoding="utf-8")
    assert '"--settings", "notesite.settings"' in text
    assert 'future_version = "0004_future"' in text


def test_flags_choose_the_app_and_the_settings(project: Path) -> None:
    other = project / "shop" / "migrations"
    other.mkdir(parents=True)
    (other / "0001_initial.py").write_text("", encoding="utf-8")
    (other / "0002_price.py").write_text("", encoding="utf-8")
    result = init("--app", "shop", "--settings", "shopsite.settings", cwd=project)
    assert result.returncode == 0, result.stderr
    target = spec.load_target(project / "migration-harness.toml")
    assert target.versions == ("0001_initial", "0002_price")
    assert '"--settings", "shopsite.settings"' in (project / "migration-harness.toml").read_text()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("no-manage", ["manage.py", "--settings"]),
        ("two-apps", ["notes", "shop", "--app"]),
        ("branched", ["0003_fill_slug", "0003_other", "one line"]),
        ("unknown-app", ["--app nope", os.path.join("nope", "migrations")]),
    ],
)
def test_what_the_project_lacks_is_named_with_the_flag_that_supplies_it(
    project: Path, change: str, named: list[str]
) -> None:
    args: list[str] = []
    if change == "no-manage":
        (project / "manage.py").unlink()
    elif change == "two-apps":
        (project / "shop" / "migrations").mkdir(parents=True)
        (project / "shop" / "migrations" / "0001_initial.py").write_text("", encoding="utf-8")
    elif change == "branched":
        (project / "notes" / "migrations" / "0003_other.py").write_text("", encoding="utf-8")
    else:
        args = ["--app", "nope"]
    result = init(*args, cwd=project)
    assert result.returncode == 2, result.stdout + result.stderr
    for text in named:
        assert text in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "migration-harness.toml").exists()


def test_a_presets_option_without_the_preset_is_refused(project: Path) -> None:
    result = python_m("migration_harness", "init", "--app", "notes", cwd=project)
    assert result.returncode == 2
    assert "--app only applies with --preset NAME" in result.stderr
    assert not (project / "migration-harness.toml").exists()


@needs_django
@CHECK_RUNS
def test_init_then_check_gives_djangos_real_verdicts(project: Path) -> None:
    assert init(cwd=project).returncode == 0
    result = check("--contract", "forward", "revert", "ahead", "lock-held", cwd=project)
    assert result.returncode == 1, result.stdout[-4000:]
    assert summary_row(result.stdout, "forward")[:4] == ["2", "2", "0", "0"], result.stdout
    assert summary_row(result.stdout, "revert")[:4] == ["2", "2", "0", "0"], result.stdout
    assert summary_row(result.stdout, "ahead")[:4] == ["1", "1", "0", "0"], result.stdout
    # Django waits 5 s for SQLite's lock, then stops with a traceback.
    assert "lock-held[sqlite-past-wait]" in result.stdout
    assert "refused with a stack trace" in result.stdout
    assert "django.db.utils.OperationalError: database is locked" in result.stdout
    # The adapter pointed Django at the harness's files: the project's own database
    # (settings: notes.sqlite3 in the working directory) was never made.
    assert not (project / "notes.sqlite3").exists()
