"""The pytest plugin loads from its entry point in any directory, with no conftest.

Every fixture it defines has an ``mh_`` twin, and it stays light in a session that
uses none of them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pytest import Pytester

from migration_harness import __version__
from tests import sub

FIXTURES = (
    "isolated_env", "safe_tmp_path", "mockbin", "run", "start_together", "daemon", "lock_holder",
    "postgres", "postgres_server", "mariadb", "mariadb_server",
)  # fmt: skip


def test_fixtures_listed_in_an_unrelated_directory(tmp_path: Path) -> None:
    result = sub.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:randomly"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr
    assert _plugin_fixtures(result.stdout) == {*FIXTURES, *(f"mh_{name}" for name in FIXTURES)}


def _plugin_fixtures(listing: str) -> set[str]:
    """Fixture names under the ``fixtures defined from migration_harness.plugin...`` headings."""
    names: set[str] = set()
    in_plugin = False
    for line in listing.splitlines():
        if line.startswith("-") and "fixtures defined from" in line:
            in_plugin = "migration_harness.plugin" in line
        elif in_plugin and line and not line[0].isspace():
            names.add(line.split()[0])
    return names


def test_header_names_the_plugin(pytester: object) -> None:
    from pytest import Pytester

    assert isinstance(pytester, Pytester)
    pytester.makepyfile("def test_ok(isolated_env):\n    assert isolated_env.which is not None\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.stdout.fnmatch_lines([f"migration-harness {__version__}", "*1 passed*"])


#: A test that starts a sleeper in a session of its own and leaves it running.
SLEEPER_LEFT_RUNNING = """
import subprocess, sys

def test_leaves_a_sleeper():
    subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
"""

LOADED_CONFTEST = """
import sys

def pytest_unconfigure(config):
    config.rootpath.joinpath("loaded.txt").write_text("\\n".join(sorted(sys.modules)))
"""

#: What a session that uses none of the fixtures must not pay for.
NOT_LOADED = (
    "migration_harness.contract",
    "migration_harness.crash",
    "migration_harness.env",
    "migration_harness.fixtures",
    "migration_harness.locks",
    "migration_harness.mockbin",
    "migration_harness.reference",
    "distlib",
    "filelock",
    "pathvalidate",
)
#: Process tracking's heavy parts: loaded once a process is started (or, on Windows,
#: with the Job Object code), not by a session whose tests start none.
PROCESS_SCANNING = ("psutil",)


def test_a_session_using_no_fixture_loads_no_building_block(pytester: Pytester) -> None:
    pytester.makeconftest(LOADED_CONFTEST)
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    loaded = set((pytester.path / "loaded.txt").read_text().splitlines())
    assert "migration_harness.plugin.processes" in loaded, "the plugin did not load at all"
    assert not [name for name in NOT_LOADED if name in loaded]


@pytest.mark.skipif(sys.platform == "win32", reason="the Job Object code needs psutil at import")
def test_a_session_whose_tests_start_no_process_never_scans_for_processes(
    pytester: Pytester,
) -> None:
    pytester.makeconftest(LOADED_CONFTEST)
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    loaded = set((pytester.path / "loaded.txt").read_text().splitlines())
    assert not [name for name in PROCESS_SCANNING if name in loaded]


def test_a_session_that_starts_a_process_still_sweeps_it(pytester: Pytester) -> None:
    """The scan skipped above is only skipped when nothing can be left: here a test
    leaves a detached sleeper, and the session's end still kills it."""
    pytester.makeconftest(LOADED_CONFTEST)
    pytester.makepyfile(SLEEPER_LEFT_RUNNING)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*migration-harness: killed 1 process(es) still running*"])
    assert "psutil" in set((pytester.path / "loaded.txt").read_text().splitlines())


def test_collect_only_loads_neither_psutil_nor_ctypes(pytester: Pytester) -> None:
    pytester.makeconftest(LOADED_CONFTEST)
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("--collect-only", "-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()
    loaded = set((pytester.path / "loaded.txt").read_text().splitlines())
    assert "migration_harness.plugin.processes" in loaded, "the plugin did not load at all"
    # Nor the tracking module: no test ran, so nothing can have been tracked.
    assert "migration_harness.proc._track" not in loaded
    if sys.platform != "win32":
        assert not [name for name in ("psutil", "ctypes") if name in loaded]


def test_building_blocks_are_registered_without_an_entry_point_lookup_each(
    pytester: Pytester,
) -> None:
    """Each name in ``pytest_plugins`` makes pytest read every installed distribution's
    entry points again (5 ms each here): the building blocks are registered directly,
    under their module names, so ``-p no:`` still leaves one out."""
    import migration_harness.plugin as plugin

    assert not hasattr(plugin, "pytest_plugins")
    pytester.makepyfile("def test_run(run):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "-p", "no:migration_harness.plugin.processes"
    )
    result.stdout.fnmatch_lines(["*fixture 'run' not found*"])
    assert pytester.runpytest_subprocess("-p", "no:randomly").ret == 0


LOADERS_CONFTEST = """
import sys

def pytest_unconfigure(config):
    lines = [
        f"{name} {type(module.__spec__.loader).__name__}"
        for name, module in sorted(sys.modules.items())
        if name.startswith("migration_harness") and getattr(module, "__spec__", None)
    ]
    config.rootpath.joinpath("loaders.txt").write_text("\\n".join(lines))
"""
#: What pytest itself imports through its assertion-rewriting hook: the entry point's chain.
THROUGH_THE_HOOK = {"migration_harness", "migration_harness.errors", "migration_harness.plugin"}


def test_the_building_blocks_load_past_the_assertion_rewriting_hook(pytester: Pytester) -> None:
    """pytest rewrites the asserts of every module of a plugin's distribution; its hook
    cost each module about as much as the module itself. Only the entry point's chain
    goes through it at start-up."""
    pytester.makeconftest(LOADERS_CONFTEST)
    result = pytester.runpytest_subprocess("--collect-only", "-p", "no:randomly")
    assert result.ret in (0, 5), result.stdout.str()
    loaders = dict(
        line.split(" ", 1) for line in (pytester.path / "loaders.txt").read_text().splitlines()
    )
    from migration_harness import plugin

    assert set(plugin.BUILDING_BLOCKS) <= set(loaders), "the plugin did not load"
    rewritten = {name for name, loader in loaders.items() if loader == "AssertionRewritingHook"}
    # A subset: an install pytest cannot read the files of (no RECORD) is not rewritten at all.
    assert rewritten <= THROUGH_THE_HOOK


def test_modules_loaded_past_the_hook_have_no_assert_to_rewrite() -> None:
    """So loading them with Python's own loader loses nothing pytest would add."""
    import ast
    import importlib.util

    from migration_harness import plugin

    with_asserts = []
    for name in (*plugin.BLOCKS_IMPORT, *plugin.BUILDING_BLOCKS):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
            with_asserts.append(name)
    assert not with_asserts, f"modules loaded past pytest's assertion rewriting: {with_asserts}"
