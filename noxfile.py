"""Sessions: tests, check (the contract against the reference tool), lint, typecheck,
windows, bench, stress, gallery (the presets on real migration tools).

Every session installs what it needs, so nox is the only prerequisite.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

# Per-test bound so a wedged test fails with a traceback instead of hanging CI.
TEST_TIMEOUT_S = "300"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the project's own test suite in parallel and in random order (with the pinned
    Python migration tools the presets' tests run against)."""
    session.install("-e", ".[test]", "-r", "gallery/requirements.txt")
    args = session.posargs or ["-n", "auto"]
    session.run("pytest", "tests", f"--timeout={TEST_TIMEOUT_S}", *args)


@nox.session
def check(session: nox.Session) -> None:
    """The main job: the migration safety contract against the built-in reference tool."""
    session.install(".")
    session.run("migration-harness", "check", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the importable package."""
    # tomli: mypy checks the Python 3.10 branch, where tomllib comes from tomli.
    # The sql-migrate extra: its preset's YAML reading is type-checked too.
    session.install("-e", ".[sql-migrate]", "mypy>=1.10", "types-psutil", "tomli>=2.0")
    session.run("mypy", "migration_harness")


# What the Wine leg leaves to the other legs, each with its reason. Under Wine every process
# start costs 0.5-2 s, so the leg there runs what Windows can change (file locks, rename
# and replace, process trees and kills, launchers, paths), once per kind of behaviour.
# Native Windows (GitHub Actions) runs all of it.
WINE_DESELECT = (
    # The whole contract runs once, as `windows check` below, instead of inside pytest.
    "tests/test_contract.py::test_reference_tool_passes_every_contract",
    # The two crash mutants need strace (Linux) to stay quick.
    "tests/test_contract.py::test_every_mutant_is_caught_by_its_contract[inplace-config]",
    "tests/test_contract.py::test_every_mutant_is_caught_by_its_contract[version-first]",
    # Progress lines of a parallel check: text.
    "tests/test_contract.py::test_progress_counts_cases_when_check_runs_them_in_parallel",
    # Mutants that leave a step out (a backup, a cleanup, the version check, the tombstone,
    # the undo of a failed step) or stop waiting for a lock too soon: the contract compares
    # bytes, names and waiting times, the same on every OS. The lock, rename and path
    # mutants stay.
    "tests/test_contract.py::test_every_mutant_is_caught_by_its_contract[ahead-downgrade]",
    "tests/test_contract.py::test_every_mutant_is_caught_by_its_contract[drop-backup]",
    "tests/test_contract.py::test_every_mutant_is_caught_by_its_contract[give-up-early]",
    "tests/test_contract.py::test_every_mutant_is_caught_by_its_contract[no-rollback]",
    "tests/test_contract.py::test_every_mutant_is_caught_by_its_contract[no-tombstone]",
    "tests/test_contract.py::test_every_mutant_is_caught_by_its_contract[temp-litter]",
    # Usage errors and the failure paragraph: text. The contract inside a user's pytest
    # session runs the cases `windows check` runs.
    "tests/test_contract.py::test_unknown_contract_and_mutant_are_usage_errors",
    "tests/test_contract.py::test_contract_failure_shows_commands_and_keeps_the_repo",
    "tests/test_contract.py::test_contract_inside_a_users_pytest_session",
    # Which repo states after a rolled-back step repeat is the harness's bookkeeping of
    # bytes, the same on every OS (47 s under Wine); `backups` itself runs in `windows check`.
    "tests/test_contract.py::test_a_failed_step_rolled_back_to_the_same_bytes_is_read_once",
    # Hostile paths handed to a single-file repo: the harness passes them the same way for
    # any repo; the characters Windows treats differently are `windows check`'s
    # hostile-paths cases (17 cases, 45 s under Wine).
    "tests/test_file_repos.py::test_a_sqlite_file_repo_keeps_the_contract[hostile-paths]",
    # A file repo copied and restored around crash points: the copying is the harness's,
    # the same for both backends; the sweep, which `windows check` below uses, stays.
    "tests/test_file_repos.py::test_every_crash_backend_copies_and_restores_a_file_repo[hook]",
    # Bracket expansion is Python's glob, the same on every OS; the path characters Windows
    # treats differently are `windows check`'s hostile-paths cases.
    "tests/test_hostile_paths.py::test_a_glob_expanding_tool_fails_hostile_paths_on_brackets_only",
    # Crash and failure points of the reference tool: a few in each stretch of the run stay
    # (step 1-2, its external step, step 2-3's block moves, step 3-4); the others repeat
    # the same kill, or the same rollback, of the same kind of file operation.
    *(
        f"tests/test_reference.py::test_crash_hook_loses_nothing[{point}]"
        for point in (1, 5, 6, 10, 11, 31, 33, 37, 39)
    ),
    *(
        f"tests/test_reference.py::test_failure_hook_rolls_the_step_back[{point}]"
        for point in (1, 3, 6, 9, 31, 37, 39)
    ),
)
# Under Wine a process start now and then fails with no output and no sign of the
# program having run (about once in a few thousand starts, under load; never on
# Windows): the leg under Wine reruns a failed test once, and pytest's last line counts
# the reruns. Native Windows reruns nothing.
WINE_RERUNS = ("--with", "pytest-rerunfailures>=14")
WINE_RERUN_ARGS = ("--reruns", "1")
# Test modules whose subject reads the same on every OS (text, parsing, packaging, the
# project's own files and dev tools), left out of the Wine leg whole.
WINE_SAME_ON_EVERY_OS = (
    "test_bench_stress.py",  # the stress runner and benchmarks: dev tools, run on Linux
    "test_concurrent_rounds.py",  # round counting; Windows races: test_contract's mutants
    "test_database_contract.py",  # no database server under Wine (native Windows has one)
    "test_databases.py",  # the same
    "test_dist.py",  # building and checking the sdist and wheel
    "test_docs.py",  # the docs against the code; examples run on Linux
    "test_errors.py",  # the exception hierarchy
    "test_init.py",  # scaffolding: text files written from templates
    "test_layers.py",  # the import graph
    "test_named_versions.py",  # version names in specs and messages
    "test_origin.py",  # version text and git
    "test_plugin_options.py",  # option precedence
    "test_preset_django.py",  # a spec read from project files; the real tool is not there
    "test_preset_dbmate.py",  # the same
    "test_preset_sql_migrate.py",  # the same
    "test_progress.py",  # progress lines
    "test_project.py",  # README, nox sessions, project files
    "test_selection.py",  # contract id and mutant wording
    "test_shards.py",  # which cases a shard runs
    "test_spec.py",  # spec parsing
    "test_spec_limits.py",  # spec bounds
    "test_summary.py",  # the report table
    "test_verdicts.py",  # verdicts, exit statuses and options passed to pytest
    "test_windows_leg.py",  # provisioning this leg: it runs on Linux
    "test_workflows.py",  # GitHub workflow YAML and its bash steps
)


@nox.session
def windows(session: nox.Session) -> None:
    """The suite on Windows: natively there; on Linux under Wine with Windows CPython.

    On Linux the first run provisions and caches the Windows environment (see
    `migration-harness windows --help`); arguments after `--` go to pytest.
    """
    import os
    import shutil
    import sys

    if sys.platform == "win32":
        session.install("-e", ".[test]")
        args = session.posargs or ["-n", "auto"]
        session.run("pytest", "tests", f"--timeout={TEST_TIMEOUT_S}", *args)
        return
    if not (os.environ.get("MIGRATION_HARNESS_WINE") or shutil.which("wine")):
        session.error(
            "wine not found on PATH; install it with `sudo apt-get install wine wine64` "
            "(Debian/Ubuntu) and run `nox -s windows` again"
        )
    session.install("-e", ".")
    if session.posargs:
        session.run("migration-harness", "windows", "--pytest", "--", "tests", *session.posargs)
        return
    # Every process start costs ~0.5-2 s under Wine: a longer per-test bound, random order
    # stays on. A test there waits on Wine more than it computes, so three xdist workers
    # on two CPUs: measured one after the other, 333 s with 2 workers, 280 s with 3, 300 s
    # with 4.
    session.run(
        "migration-harness", "windows", *WINE_RERUNS, "--pytest", "--",
        "tests", "--timeout=900", "-n", "3", *WINE_RERUN_ARGS,
        *(f"--deselect={node}" for node in WINE_DESELECT),
        *(f"--ignore=tests/{name}" for name in WINE_SAME_ON_EVERY_OS),
    )  # fmt: skip
    # The main job under Windows semantics, in one run so the crash case shares the
    # workers with the others. Crash points (the crash contract and no-litter's crashed
    # re-runs) use the time sweep: its kills are what Windows can change, and the
    # deterministic hook backend takes about 6 minutes there, left to
    # `migration-harness windows check --contract crash`.
    session.run("migration-harness", "windows", "check", "--crash-backend", "sweep")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the performance targets: a table, and bench/results.json.

    Installs mirakuru here (for comparison) and Go if missing (apt-get, as root).
    `nox -s bench -- --quick` repeats less and skips the minutes-long suite timing.
    """
    import os
    import shutil

    session.install("-e", ".[test]", "mirakuru>=2.5")
    if shutil.which("go") is None and not os.path.exists("/usr/lib/go/bin/go"):
        if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
            apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
            session.run("apt-get", "update", "-qq", external=True, env=apt_env)
            session.run(
                "apt-get", "install", "-y", "-qq", "--no-install-recommends", "golang-go",
                external=True, env=apt_env,
            )  # fmt: skip
        else:
            session.warn(
                "go not found: go_build_ms is skipped. Install Go (Debian/Ubuntu: "
                "`sudo apt-get install golang-go`) and run `nox -s bench` again."
            )
    session.run("python", "-m", "bench.run", *session.posargs)


@nox.session
def stress(session: nox.Session) -> None:
    """The whole suite N times (`-- N [--load K] [pytest args]`, default 5), random order,
    -n auto; `--load K` runs K CPU-burning processes beside it the whole time.

    Then checks that no process started by the runs is still alive. Last line:
    `stress: R runs, F failed, O orphan processes` (`R runs under load K` with --load).
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "bench.stress", *session.posargs)


@nox.session
def gallery(session: nox.Session) -> None:
    """Each preset on its sample project with the real, pinned tools (Django, alembic and
    SQLAlchemy and the database drivers from PyPI, dbmate from npm, Debian's sql-migrate),
    on SQLite and on throwaway PostgreSQL and MariaDB servers; writes docs/gallery.md.
    A tool or server that is missing is skipped with the reason. `-- --runs 10` checks
    that every verdict is the same in 10 runs."""
    import shutil
    from pathlib import Path

    session.install("-e", ".[sql-migrate]", "-r", "gallery/requirements.txt")
    tools = Path(session.create_tmp()).resolve() / "tools"
    tools.mkdir(exist_ok=True)
    if shutil.which("npm") is None:
        session.log("npm is not installed: dbmate is skipped (Debian/Ubuntu: apt-get install npm)")
    else:
        shutil.copy("gallery/package.json", tools / "package.json")
        npm = ["npm", "install", "--prefix", str(tools), "--no-audit", "--no-fund", "--silent"]
        session.run(*npm, external=True)
    session.run("python", "gallery/run.py", "--tools", str(tools), *session.posargs)
