"""The dbmate preset: the spec `init --preset dbmate` reads from a project (through the
CLI), its user-facing errors, and the adapter with the real dbmate: up to a version, back
down, nothing written in the project, dbmate stopped with the adapter, and the contract's
verdicts on the gallery sample.

The tests that run dbmate find it on PATH (`npm install dbmate@2.36.0`, then put
`node_modules/.bin` on PATH) and are skipped without it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from migration_harness.spec import load_target
from tests import sub
from tests.specfiles import CHECK_RUNS, check

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

SAMPLE = Path(__file__).resolve().parents[1] / "gallery" / "dbmate" / "db" / "migrations"
VERSIONS = ["20250101000001", "20250101000002", "20250101000003"]
DBMATE = shutil.which("dbmate")
needs_dbmate = pytest.mark.skipif(
    DBMATE is None,
    reason="dbmate is not on PATH (npm install dbmate@2.36.0, then put node_modules/.bin on PATH)",
)
#: Generous bounds for a loaded 2-core machine; nothing here is a timing assertion.
WAIT_S = 60.0


# --- helpers --------------------------------------------------------------------------


def project(tmp_path: Path, migrations: str = "db/migrations", name: str = "notes") -> Path:
    """A copy of the gallery's dbmate sample: three migrations, nothing else."""
    root = tmp_path / name
    shutil.copytree(SAMPLE, root / migrations)
    return root


def fake_dbmate(root: Path) -> Path:
    """An executable where npm puts dbmate's wrapper; spec tests only look for it."""
    wrapper = root / "node_modules" / ".bin" / "dbmate"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    wrapper.chmod(0o755)
    if sys.platform == "win32":  # what npm writes there for Windows
        wrapper.with_suffix(".cmd").write_text("@exit /b 0\r\n", encoding="utf-8")
    return wrapper


def env_without_dbmate() -> dict[str, str]:
    """This environment with every PATH entry that holds a dbmate left out."""
    entries = os.environ.get("PATH", "").split(os.pathsep)
    kept = [e for e in entries if e and shutil.which("dbmate", path=e) is None]
    return {**os.environ, "PATH": os.pathsep.join(kept)}


def init(
    root: Path, *flags: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return sub.run(
        [sys.executable, "-m", "migration_harness", "init", str(root), "--preset", "dbmate",
         *flags],
        capture_output=True, text=True, env=env if env is not None else env_without_dbmate(),
        timeout=120,
    )  # fmt: skip


def spec_of(root: Path) -> dict[str, object]:
    data = tomllib.loads((root / "migration-harness.toml").read_text(encoding="utf-8"))
    target = data["target"]
    assert isinstance(target, dict)
    return target


def adapter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return sub.run(
        [sys.executable, "-m", "migration_harness.presets.dbmate", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


def applied(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [r[0] for r in rows]


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- the spec, through the CLI ----------------------------------------------------------


def test_the_spec_reads_versions_and_the_npm_install(tmp_path: Path) -> None:
    root = project(tmp_path)
    fake_dbmate(root)
    result = init(root)
    assert result.returncode == 0, result.stderr
    target = spec_of(root)
    assert target["versions"] == VERSIONS
    assert target["future_version"] == "99999999999999"
    assert target["content"] == "per-version"
    create = target["create"]
    assert isinstance(create, list)
    assert create[:6] == ["{python}", "-m", "migration_harness.presets.dbmate", "up", "{repo}",
                          "--to"]  # fmt: skip
    assert "{here}/db/migrations" in create
    assert create[-2:] == ["--dbmate", "{here}/node_modules/.bin/dbmate"]
    assert target["version"] == [
        "{python}", "-m", "migration_harness.presets.sqlite", "version", "{repo}",
        "SELECT max(version) FROM schema_migrations",
    ]  # fmt: skip
    assert (target["on_lock_held"], target["on_ahead"]) == ("wait", "compat")
    # The harness itself accepts it, as written.
    loaded = load_target(root / "migration-harness.toml")
    assert loaded.versions == tuple(VERSIONS)


def test_the_env_file_names_the_directory_and_the_table(tmp_path: Path) -> None:
    root = project(tmp_path, migrations="sql/changes")
    fake_dbmate(root)
    (root / ".env").write_text(
        "# dbmate's settings\nexport DATABASE_URL='sqlite:db/app.sqlite3'\n"
        'DBMATE_MIGRATIONS_DIR="./sql/changes"\nDBMATE_MIGRATIONS_TABLE=applied\n',
        encoding="utf-8",
    )
    result = init(root)
    assert result.returncode == 0, result.stderr
    target = spec_of(root)
    assert target["versions"] == VERSIONS
    migrate = target["migrate"]
    assert isinstance(migrate, list)
    assert migrate[migrate.index("--migrations-dir") + 1] == "{here}/sql/changes"
    assert migrate[migrate.index("--migrations-table") + 1] == "applied"
    assert target["version"][-1] == "SELECT max(version) FROM applied"  # type: ignore[index]
    assert "INSERT INTO applied" in target["stamp"][-1]  # type: ignore[index]


def test_flags_name_the_directory_and_dbmate(tmp_path: Path) -> None:
    root = project(tmp_path, migrations="migrations")
    tool = fake_dbmate(tmp_path / "elsewhere")
    result = init(root, "--migrations-dir", "migrations", "--dbmate", str(tool))
    assert result.returncode == 0, result.stderr
    create = spec_of(root)["create"]
    assert isinstance(create, list)
    assert create[create.index("--migrations-dir") + 1] == "{here}/migrations"
    assert create[-1] == str(tool)


@pytest.mark.parametrize(
    ("setup", "flags", "expected"),
    [
        pytest.param(
            "no-dir", (), ["db/migrations", "--migrations-dir DIR"], id="no-migrations-dir"
        ),
        pytest.param(
            "one-file", (), ["at least 2 migration files", "--migrations-dir DIR"], id="one-file"
        ),
        pytest.param(
            "postgres", (), [".env", "DATABASE_URL", "'postgres:'", "pass --database postgresql"],
            id="server-url",
        ),
        pytest.param(
            "no-dbmate", (), [os.path.join("node_modules", ".bin", "dbmate"), "--dbmate PATH"],
            id="no-dbmate",
        ),
        pytest.param(
            "dup", (), ["more than one migration file with version 20250101000002"],
            id="duplicate-version",
        ),
        pytest.param(
            "env-dir", (), [".env: DBMATE_MIGRATIONS_DIR", "nowhere", "--migrations-dir DIR"],
            id="env-dir-missing",
        ),
    ],
)  # fmt: skip
def test_what_the_project_lacks_is_one_line_naming_file_and_flag(
    tmp_path: Path, setup: str, flags: tuple[str, ...], expected: list[str]
) -> None:
    root = project(tmp_path)
    if setup != "no-dbmate":
        fake_dbmate(root)
    migrations = root / "db" / "migrations"
    if setup == "no-dir":
        shutil.rmtree(migrations)
    elif setup == "one-file":
        for file in sorted(migrations.iterdir())[1:]:
            file.unlink()
    elif setup == "postgres":
        (root / ".env").write_text("DATABASE_URL=postgres://u@localhost/app\n", encoding="utf-8")
    elif setup == "dup":
        (migrations / "20250101000002_again.sql").write_text("-- migrate:up\n", encoding="utf-8")
    elif setup == "env-dir":
        (root / ".env").write_text("DBMATE_MIGRATIONS_DIR=nowhere\n", encoding="utf-8")
    result = init(root, *flags)
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr.strip()
    assert "Traceback" not in message
    assert message.count("\n") == 0, message
    assert message.startswith("migration-harness: ") or "--preset dbmate" in message, message
    for part in expected:
        assert part in message, message
    assert not (root / "migration-harness.toml").exists()


# --- the adapter, with the real dbmate ---------------------------------------------------


@needs_dbmate
def test_up_stops_at_the_version_and_rollback_goes_back(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = tree(root)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    dirs = ("--migrations-dir", str(root / "db" / "migrations"))
    up = adapter("up", "repo", "--to", VERSIONS[1], *dirs, cwd=scratch)
    assert up.returncode == 0, up.stderr
    assert applied(scratch / "repo") == VERSIONS[:2]
    up = adapter("up", "repo", "--to", VERSIONS[2], *dirs, cwd=scratch)
    assert up.returncode == 0, up.stderr
    assert applied(scratch / "repo") == VERSIONS
    down = adapter("rollback", "repo", "--to", VERSIONS[0], *dirs, cwd=scratch)
    assert down.returncode == 0, down.stderr
    assert down.stdout.count("Rolled back: ") == 2, down.stdout
    assert applied(scratch / "repo") == VERSIONS[:1]
    # Only the database is left beside it; the project is as it was.
    assert sorted(p.name for p in scratch.iterdir()) == ["repo"]
    assert tree(root) == before


@needs_dbmate
@pytest.mark.parametrize(
    ("directory", "ok"),
    [("a,b", True), ("100%-%41%2e", True), ("%41", False), ("what?", False)],
)
def test_paths_dbmate_can_and_cannot_open(tmp_path: Path, directory: str, ok: bool) -> None:
    root = project(tmp_path)
    scratch = tmp_path / directory
    scratch.mkdir()
    dirs = ("--migrations-dir", str(root / "db" / "migrations"))
    result = adapter("up", str(scratch / "repo"), "--to", VERSIONS[2], *dirs, cwd=tmp_path)
    if ok:
        assert result.returncode == 0, result.stderr
        assert applied(scratch / "repo") == VERSIONS
    else:
        # Refused, one line, and dbmate wrote no other file (`A/repo`, `what`).
        assert result.returncode == 2
        assert result.stderr.startswith("dbmate adapter: dbmate cannot open"), result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([directory, "notes"])


@pytest.mark.parametrize("mistake", ["version", "directory"])
def test_an_unknown_version_or_directory_is_one_line(tmp_path: Path, mistake: str) -> None:
    migrations = project(tmp_path) / "db" / "migrations"
    if mistake == "directory":
        migrations = migrations.parent / "nowhere"
    result = adapter(
        "up", "repo", "--to", "2025" if mistake == "version" else VERSIONS[0],
        "--migrations-dir", str(migrations), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    if mistake == "version":
        assert result.stderr == (
            f"dbmate adapter: no migration file with version 2025 in {migrations} "
            f"(versions: {', '.join(VERSIONS)})\n"
        )
    else:
        assert result.stderr.startswith("dbmate adapter: cannot read the migrations directory:")
        assert str(migrations) in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "repo").exists()


@pytest.fixture
def held_db(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A database at the first version, and the process holding its write lock."""
    root = project(tmp_path)
    db = tmp_path / "repo"
    dirs = ("--migrations-dir", str(root / "db" / "migrations"))
    assert adapter("up", str(db), "--to", VERSIONS[0], *dirs, cwd=tmp_path).returncode == 0
    holder = sub.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(120)",
         str(db)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield db, holder
    finally:
        holder.kill()
        holder.communicate()


def dbmate_child(adapter_proc: subprocess.Popen[str]) -> psutil.Process:
    """The dbmate the adapter started, once it is running."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        children = psutil.Process(adapter_proc.pid).children()
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError("the adapter started no dbmate")


@needs_dbmate
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGKILL"], ids=["term", "kill"])
def test_dbmate_stops_with_the_adapter(
    held_db: tuple[Path, subprocess.Popen[str]], name: str
) -> None:
    signum = int(getattr(signal, name))  # by name: Windows has no SIGKILL to collect
    if name == "SIGKILL" and not sys.platform.startswith("linux"):
        pytest.skip("only Linux kills a child with its parent (PR_SET_PDEATHSIG)")
    db, holder = held_db
    migrations = str(project(db.parent, name="again") / "db" / "migrations")
    proc = sub.Popen(
        [sys.executable, "-m", "migration_harness.presets.dbmate", "up", str(db),
         "--to", VERSIONS[2], "--migrations-dir", migrations],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=db.parent,
    )  # fmt: skip
    child = dbmate_child(proc)
    try:
        # dbmate waits on the held lock; the adapter alone gets the signal.
        proc.send_signal(signum)
        assert proc.wait(WAIT_S) == (128 + signum if signum == signal.SIGTERM else -signum)
        # Released: a dbmate left running would now migrate (or give up on the lock).
        holder.kill()
        holder.wait()
        child.wait(WAIT_S)  # psutil.TimeoutExpired: dbmate outlived the adapter
    finally:
        for p in (child, psutil.Process(proc.pid) if proc.poll() is None else None):
            if p is not None and p.is_running():
                p.kill()
    output = proc.communicate()[0]  # to its end: every writer (dbmate too) has closed
    assert "Applied: 20250101000002" not in output and "database is locked" not in output
    assert applied(db) == VERSIONS[:1]
    if signum == signal.SIGTERM:  # it cleaned up; SIGKILL leaves its copies
        assert not [p for p in db.parent.iterdir() if p.name.startswith("mh-dbmate")]


# --- the contract on the gallery sample ---------------------------------------------------


@needs_dbmate
@pytest.mark.slow
@CHECK_RUNS
def test_check_gives_the_measured_verdicts(tmp_path: Path) -> None:
    root = project(tmp_path)
    result = init(root, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert spec_of(root)["create"][-1] == "dbmate"  # type: ignore[index]
    report = tmp_path / "report.json"
    run = check(
        "--contract", "forward", "revert", "ahead", "concurrent",
        "--report-json", str(report), cwd=root,
    )  # fmt: skip
    rows = json.loads(report.read_text(encoding="utf-8"))["results"]
    cases = {row["case"]: (row["outcome"], row["message"]) for row in rows}
    outcomes = {case: outcome for case, (outcome, _) in cases.items()}
    race = f"concurrent[{VERSIONS[0]}-{VERSIONS[2]}x4]"
    assert outcomes == {
        f"forward[{VERSIONS[0]}-{VERSIONS[2]}]": "passed",
        f"forward[{VERSIONS[1]}-{VERSIONS[2]}]": "passed",
        f"revert[{VERSIONS[2]}-{VERSIONS[0]}]": "passed",
        f"revert[{VERSIONS[2]}-{VERSIONS[1]}]": "passed",
        "ahead[99999999999999]": "passed",
        race: "failed",
    }, run.stdout[-4000:]
    # dbmate's race: a loser re-applies a migration another racer applied.
    assert "exit 2, expected 0" in cases[race][1], cases[race][1]
    assert run.returncode == 1
