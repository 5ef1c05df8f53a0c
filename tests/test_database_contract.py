"""The contract against a tool that keeps its data on a database server: a small SQL
migrator (tests/tools/sqlmigrator) on real PostgreSQL and MariaDB servers that `check`
starts, and deliberate defects of it, each caught by the contract that names it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest

from migration_harness.crash._strace import strace_unavailable_reason
from tests.specfiles import CHECK_RUNS, check, summary_row, write

pytestmark = CHECK_RUNS

MIGRATOR = Path(__file__).parent / "tools" / "sqlmigrator"
ENGINES = ("postgresql", "mariadb")
STARTED = re.compile(r"server started in [\d.]+ s \((.+)\)$", re.M)


def check_migrator(
    tmp_path: Path, engine: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = check("--config", str(MIGRATOR / f"{engine}.toml"), *args, cwd=tmp_path, env=env)
    if result.returncode == 2 and "target.database" in result.stderr:
        pytest.skip(result.stderr.strip().splitlines()[-1])
    return result


def expect_no_server_left(stdout: str) -> None:
    found = STARTED.search(stdout)
    assert found, stdout
    root = found.group(1)
    assert not Path(root).exists(), f"the server's directory is still there: {root}"
    for process in psutil.process_iter(["cmdline"]):
        assert root not in " ".join(process.info["cmdline"] or []), process


@pytest.mark.parametrize("engine", ENGINES)
def test_the_migrator_keeps_every_promise_and_no_server_outlives_the_run(
    tmp_path: Path, engine: str
) -> None:
    # hostile-paths: the repo's path never reaches the server (a database per path).
    result = check_migrator(tmp_path, engine, "-k", "not hostile-paths")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check: PASSED" in result.stdout
    contracts = ("forward", 3), ("concurrent", 1), ("crash", 1), ("ahead", 1), ("lock-held", 2)
    for contract, cases in (*contracts, ("stale-lock", 2)):
        assert summary_row(result.stdout, contract)[:2] == [str(cases)] * 2, contract
    if strace_unavailable_reason() is None:
        # killed as it sends each statement (the counterpart of statement-commits)
        points = re.search(r"strace: (\d+) of (\d+) points", result.stdout)
        assert points and int(points[1]) >= 20, result.stdout
    expect_no_server_left(result.stdout)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("mutant", "contract", "says"),
    [
        ("no-lock", "concurrent", "racer"),
        ("no-lock", "lock-held", "while the lock"),
        ("ignore-ahead", "ahead", "exit 0, expected a refusal"),
        ("statement-commits", "crash", "broke the repo"),
    ],
)
def test_each_defect_is_caught_by_the_contract_that_names_it(
    tmp_path: Path, engine: str, mutant: str, contract: str, says: str
) -> None:
    env = {"SQLMIGRATOR_MUTANT": mutant}
    if contract != "crash" or strace_unavailable_reason() is not None:
        env["SQLMIGRATOR_PAUSE_S"] = "0.2"  # wide windows for racers and timed kills
    result = check_migrator(tmp_path, engine, "--contract", contract, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"broke {contract}" in result.stdout, result.stdout
    assert says in result.stdout, result.stdout


@pytest.mark.skipif(
    strace_unavailable_reason() is None,
    reason="under strace the whole-contract test kills the migrator at the same statements",
)
@pytest.mark.parametrize("engine", ENGINES)
def test_the_crash_contract_passes_a_correct_migrator_with_the_same_wide_windows(
    tmp_path: Path, engine: str
) -> None:
    # The counterpart of the statement-commits case under timed kills: the same pauses,
    # no false alarm.
    env = {"SQLMIGRATOR_PAUSE_S": "0.2"}
    result = check_migrator(tmp_path, engine, "--contract", "crash", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_target_without_a_dump_needs_a_database(tmp_path: Path) -> None:
    spec = write(tmp_path, (MIGRATOR / "postgresql.toml").read_text().split("[target.database]")[0])
    result = check("--config", str(spec), cwd=tmp_path)
    assert result.returncode == 2
    assert "target.dump: missing" in result.stderr
    assert "[target.database]" in result.stderr


def test_database_placeholders_need_a_database(tmp_path: Path) -> None:
    text = (MIGRATOR / "postgresql.toml").read_text().split("[target.database]")[0]
    text = "".join(line for line in text.splitlines(True) if not line.startswith("lock = "))
    spec = write(tmp_path, text + 'dump = ["cat", "{repo}/x"]\n')
    result = check("--config", str(spec), cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown placeholder {database_url}" in result.stderr


def test_an_unknown_engine_is_named_with_the_choices(tmp_path: Path) -> None:
    text = (MIGRATOR / "postgresql.toml").read_text().replace('"postgresql"', '"oracle"')
    result = check("--config", str(write(tmp_path, text)), cwd=tmp_path)
    assert result.returncode == 2
    assert 'target.database.engine: expected one of "postgresql", "mariadb"' in result.stderr


def test_missing_server_programs_are_an_error_that_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    text = (
        MIGRATOR / "postgresql.toml"
    ).read_text() + f'bindir = "{(tmp_path / "empty").as_posix()}"\n'
    spec = write(tmp_path, text.replace("{here}", str(MIGRATOR).replace("\\", "/")))
    result = check("--config", str(spec), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "target.database:" in result.stderr and "install" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_contract_on_a_server_inside_a_users_pytest_session(pytester: pytest.Pytester) -> None:
    # No `check` announces a server here: the session starts its own and stops it.
    pytester.makeini(f"[pytest]\nmh_contract = {MIGRATOR / 'postgresql.toml'}\n")
    result = pytester.runpytest_subprocess(
        "-v", "-p", "no:randomly", "--mh-no-orphans",
        "--mh-contract-id", "forward", "--mh-contract-id", "ahead",
    )  # fmt: skip
    if "DatabaseUnavailable" in result.stdout.str():
        pytest.skip("no PostgreSQL server can run here")
    result.stdout.re_match_lines(
        [r"contract::forward\[0-3\] PASSED", r"contract::ahead\[4\] PASSED"]
    )
    result.assert_outcomes(passed=4)


@pytest.mark.skipif(shutil.which("sql-migrate") is None, reason="Debian's sql-migrate is missing")
@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is missing")
def test_debians_sql_migrate_on_postgresql_fails_only_the_race(tmp_path: Path) -> None:
    # A real tool on a real server (tests/tools/sqlmigrate_pg: the gallery's migrations,
    # sql-migrate's own `up`, psql for the version). Checked by hand: sql-migrate takes
    # no lock, so a racer applies a migration another one is applying and exits 1, with
    # `duplicate key value violates unique constraint "gorp_migrations_pkey"` or `column
    # "slug" of relation "notes" already exists`, whichever step the racers met at.
    # Everything else holds, its bookkeeping rows' applied_at stamps included.
    spec = Path(__file__).parent / "tools" / "sqlmigrate_pg" / "migration-harness.toml"
    result = check("--config", str(spec), "-k", "not hostile-paths", cwd=tmp_path)
    if result.returncode == 2 and "target.database" in result.stderr:
        pytest.skip(result.stderr.strip().splitlines()[-1])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "broke concurrent:" in result.stdout, result.stdout
    assert re.search(r"gorp_migrations_pkey|column \"slug\" .* already exists", result.stdout)
    for contract in ("forward", "idempotent", "crash", "ahead", "no-litter"):
        cases, passed = summary_row(result.stdout, contract)[:2]
        assert passed == cases, contract
    if strace_unavailable_reason() is None:
        # a Go client: its sends are counted over all its threads
        assert re.search(r"strace: \d+ of \d+ points", result.stdout), result.stdout
