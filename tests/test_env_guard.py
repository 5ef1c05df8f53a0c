"""The environment guard: a test that leaves os.environ or the cwd changed fails."""

from __future__ import annotations

import pytest

LEAKY = """
import os

def test_leaks_env():
    os.environ["MH_GUARD_LEAK"] = "1"

def test_changes_existing_and_removes(tmp_path):
    os.environ["MH_GUARD_SET"] = "changed"
    os.environ.pop("MH_GUARD_GONE")

def test_chdir(tmp_path):
    os.chdir(tmp_path)

def test_monkeypatch_is_fine(monkeypatch, tmp_path):
    monkeypatch.setenv("MH_GUARD_MP", "1")
    monkeypatch.chdir(tmp_path)

def test_next_test_sees_a_clean_env():
    assert "MH_GUARD_LEAK" not in os.environ
    assert os.environ["MH_GUARD_SET"] == "orig"
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_leaky=LEAKY)
    return pytester.runpytest_subprocess(
        "-p", "no:randomly", "-p", "no:xdist", "-p", "no:cacheprovider", *args
    )


@pytest.fixture
def guarded_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # monkeypatch, undone at teardown: the subprocess inherits these variables.
    monkeypatch.setenv("MH_GUARD_SET", "orig")
    monkeypatch.setenv("MH_GUARD_GONE", "here")


@pytest.mark.usefixtures("guarded_env")
def test_guard_flag_fails_leaky_tests_naming_keys(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--mh-env-guard")
    result.assert_outcomes(passed=5, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*test_leaks_env*changed os.environ: added MH_GUARD_LEAK*",
            "*test_changes_existing_and_removes*removed MH_GUARD_GONE; changed MH_GUARD_SET*",
            "*test_chdir*changed the working directory from*",
        ]
    )
    assert "= 'changed'" not in result.stdout.str(), "values are never printed"


@pytest.mark.usefixtures("guarded_env")
def test_guard_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmh_env_guard = true\nmh_env_guard_ignore = MH_GUARD_LEAK\n")
    result = _run(pytester)
    result.assert_outcomes(passed=4, errors=2, failed=1)
    assert "MH_GUARD_LEAK" not in "\n".join(
        line for line in result.stdout.lines if "changed os.environ" in line
    )


@pytest.mark.usefixtures("guarded_env")
def test_guard_is_off_by_default(pytester: pytest.Pytester) -> None:
    result = _run(pytester)
    # Without the guard the leak stays and the last test sees it.
    result.assert_outcomes(passed=4, failed=1)
