"""Fixtures ``isolated_env``, ``safe_tmp_path``, ``mockbin`` and the environment guard.

The guard (ini ``mh_env_guard = true`` or ``--mh-env-guard``) fails a test
that left ``os.environ`` or the working directory changed: parallel tests
sharing a process environment is how Kubo's mocks once leaked between tests.
It compares the state before setup with the state after teardown, so
``monkeypatch.setenv``/``monkeypatch.chdir`` (undone at teardown) pass.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from migration_harness.plugin.options import value

if TYPE_CHECKING:
    from migration_harness.env import IsolatedEnv
    from migration_harness.mockbin import MockBin

# pytest itself sets this during each test phase.
DEFAULT_GUARD_IGNORE = ("PYTEST_CURRENT_TEST",)

_SNAPSHOT = pytest.StashKey[tuple[dict[str, str], str]]()


def _guard_on(config: pytest.Config) -> bool:
    return bool(value(config, "mh_env_guard"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    if _guard_on(item.config):
        item.stash[_SNAPSHOT] = (dict(os.environ), os.getcwd())
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    snapshot = item.stash.get(_SNAPSHOT, None)
    if snapshot is not None:
        del item.stash[_SNAPSHOT]
        ignore = {*DEFAULT_GUARD_IGNORE, *value(item.config, "mh_env_guard_ignore")}
        problems = _describe_changes(snapshot[0], snapshot[1], ignore)
        if problems:
            _restore(snapshot[0], snapshot[1])
            pytest.fail(
                f"{item.nodeid} {problems} (restored now; use the isolated_env fixture or "
                "monkeypatch; checked because mh_env_guard is on)",
                pytrace=False,
            )
    return result


def _describe_changes(before: Mapping[str, str], cwd: str, ignore: set[str]) -> str:
    """What changed, naming keys only: values may be secrets."""
    after = os.environ
    added = sorted(k for k in after if k not in before and k not in ignore)
    removed = sorted(k for k in before if k not in after and k not in ignore)
    changed = sorted(k for k in before if k in after and before[k] != after[k] and k not in ignore)
    parts = [
        f"{label} {', '.join(keys)}"
        for label, keys in (("added", added), ("removed", removed), ("changed", changed))
        if keys
    ]
    problems = []
    if parts:
        problems.append(f"changed os.environ: {'; '.join(parts)}")
    now = os.getcwd()
    if now != cwd:
        problems.append(f"changed the working directory from {cwd} to {now}")
    return " and ".join(problems)


def _restore(environ: Mapping[str, str], cwd: str) -> None:
    # The test failed already; putting things back keeps the next tests honest.
    for key in [k for k in os.environ if k not in environ]:
        del os.environ[key]
    os.environ.update(environ)
    os.chdir(cwd)


@pytest.fixture
def mh_isolated_env() -> IsolatedEnv:
    """The plugin's ``isolated_env``, under a name no project's own fixture takes."""
    from migration_harness.env import IsolatedEnv

    return IsolatedEnv()


@pytest.fixture
def isolated_env(mh_isolated_env: IsolatedEnv) -> IsolatedEnv:
    """This test's own environment and PATH: a copy of ``os.environ``, never written back.
    Also reachable as ``mh_isolated_env``."""
    return mh_isolated_env


@pytest.fixture
def mh_safe_tmp_path(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The plugin's ``safe_tmp_path``, under a name no project's own fixture takes."""
    from migration_harness.names import safe_name

    path = tmp_path / safe_name(request.node.name)
    path.mkdir()
    return path


@pytest.fixture
def safe_tmp_path(mh_safe_tmp_path: Path) -> Path:
    """A new empty directory named ``safe_name(<test name with parameters>)``.
    Also reachable as ``mh_safe_tmp_path``."""
    return mh_safe_tmp_path


@pytest.fixture
def mh_mockbin(tmp_path_factory: pytest.TempPathFactory) -> MockBin:
    """The plugin's ``mockbin``, under a name no project's own fixture takes."""
    from migration_harness.mockbin import MockBin

    return MockBin(tmp_path_factory.mktemp("mockbin"))


@pytest.fixture
def mockbin(mh_mockbin: MockBin) -> MockBin:
    """Factory of mock executables in a per-test directory (``mockbin.dir``, not on PATH).
    Also reachable as ``mh_mockbin``."""
    return mh_mockbin
