"""The fixtures' public face: their types, their ``mh_`` twins, what a child sees."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from migration_harness.env import IsolatedEnv
from migration_harness.fixtures import (
    DaemonFactory,
    LockHolderFactory,
    MockBin,
    Runner,
    StartTogether,
)
from migration_harness.fixtures import IsolatedEnv as ExportedIsolatedEnv

PRINT_CURRENT_TEST = "import os; print(os.environ.get('PYTEST_CURRENT_TEST', '<unset>'))"


def test_fixture_values_have_the_exported_types(
    run: object,
    daemon: object,
    lock_holder: object,
    isolated_env: object,
    mockbin: object,
    safe_tmp_path: object,
) -> None:
    assert ExportedIsolatedEnv is IsolatedEnv
    assert isinstance(run, Runner)
    assert isinstance(daemon, DaemonFactory)
    assert isinstance(lock_holder, LockHolderFactory)
    assert isinstance(isolated_env, IsolatedEnv)
    assert isinstance(mockbin, MockBin)
    assert isinstance(safe_tmp_path, Path)


def test_twins_are_the_same_objects(request: pytest.FixtureRequest) -> None:
    names = ("run", "start_together", "daemon", "lock_holder", "isolated_env", "mockbin")
    for name in (*names, "safe_tmp_path"):
        assert request.getfixturevalue(name) is request.getfixturevalue(f"mh_{name}"), name


def test_run_and_daemon_use_the_same_isolated_env(
    run: Runner, daemon: DaemonFactory, isolated_env: IsolatedEnv
) -> None:
    assert run.env is isolated_env
    assert daemon.env is isolated_env


def test_start_together_races_in_the_tests_env(
    start_together: StartTogether, isolated_env: IsolatedEnv
) -> None:
    assert isinstance(start_together, StartTogether)
    isolated_env.set("RACE_NAME", "racer")
    code = "import os, sys; print(os.environ['RACE_NAME'], sys.argv[1])"
    results = start_together([[sys.executable, "-c", code, str(n)] for n in range(3)])
    assert [r.stdout.split() for r in results] == [["racer", str(n)] for n in range(3)]
    assert all(r.ok and r.released_at is not None for r in results), results


PROJECT_CONFTEST = """
import pytest

@pytest.fixture
def run():
    return "the project's own run"

@pytest.fixture
def daemon():
    return "the project's own daemon"
"""

PROJECT_TEST = """
import sys

def test_both(run, daemon, mh_run, mh_daemon, isolated_env):
    assert run == "the project's own run"
    assert daemon == "the project's own daemon"
    isolated_env.set("MH_ALIAS_PROBE", "through mh_run")
    result = mh_run([sys.executable, "-c", "import os; print(os.environ['MH_ALIAS_PROBE'])"])
    result.assert_ok()
    assert result.stdout.strip() == "through mh_run"
    assert mh_daemon.env is isolated_env
"""


def test_a_project_with_its_own_run_reaches_the_plugin_through_mh_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(PROJECT_CONFTEST)
    pytester.makepyfile(test_project=PROJECT_TEST)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_child_sees_the_current_pytest_phase_not_the_setup_one(run: Runner) -> None:
    # The isolated env was made at setup; the child starts during the call phase.
    result = run([sys.executable, "-c", PRINT_CURRENT_TEST])
    result.assert_ok()
    assert result.stdout.strip() == os.environ["PYTEST_CURRENT_TEST"]
    assert result.stdout.strip().endswith("(call)")
    env_lines = result.describe().split("env", 1)[1].splitlines()
    assert not [line for line in env_lines if "PYTEST_CURRENT_TEST=" in line], env_lines


def test_a_test_can_still_set_or_unset_the_pytest_variable(isolated_env: IsolatedEnv) -> None:
    isolated_env.set("PYTEST_CURRENT_TEST", "chosen by the test")
    assert isolated_env.run([sys.executable, "-c", PRINT_CURRENT_TEST]).stdout.strip() == (
        "chosen by the test"
    )
    isolated_env.unset("PYTEST_CURRENT_TEST")
    assert "PYTEST_CURRENT_TEST" not in isolated_env.vars
    assert isolated_env.copy().get("PYTEST_CURRENT_TEST") is None


def test_a_given_base_is_kept_as_it_is() -> None:
    env = IsolatedEnv({"PYTEST_CURRENT_TEST": "from the base", "PATH": ""})
    assert env.vars["PYTEST_CURRENT_TEST"] == "from the base"
