"""Process fixtures (``run``, ``daemon``) and the no-orphans guarantee.

Every process started through :mod:`migration_harness.proc` is tracked, and the
session marks its own environment with the run's marker so that plain
``subprocess`` children carry it too. On Linux the session is a child
subreaper: whatever detaches is re-parented to it. At each test's teardown,
after its fixtures are finalised, every process the test started and left
running (through the harness or not, detached or not) is killed with its tree;
with ``--mh-no-orphans`` (or the ini option ``mh_no_orphans = true``) the test
also errors, naming each process. At session end (also after Ctrl-C) everything
still running is swept, and a guardian process sweeps after an interpreter that
died abruptly (pytest-timeout's ``os._exit``, a SIGKILL).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from migration_harness.plugin.options import value
from migration_harness.proc._marker import MARKER_ENV, RUN_TOKEN, want_guardian

if TYPE_CHECKING:
    import psutil

    from migration_harness.env import IsolatedEnv
    from migration_harness.fixtures import DaemonFactory, Runner, StartTogether
    from migration_harness.proc._track import Leftover

_ITEM_MARK = pytest.StashKey[int]()
_SESSION_MARK = pytest.StashKey[int]()
_SESSION_LEFTOVERS = pytest.StashKey["list[Leftover]"]()
_ITEM_BEFORE = pytest.StashKey[set["psutil.Process"]]()
#: Plain processes (not started through the harness) that wider fixtures started.
_FIXTURE_PROCESSES = pytest.StashKey[set["psutil.Process"]]()
_SAVED_MARKER = pytest.StashKey[str | None]()
#: What ran after the last test's teardown: the next test's baseline (saves a scan).
_BASELINE = pytest.StashKey["set[psutil.Process] | None"]()
#: What ran when the session started (an in-process inner session must not sweep it).
_SESSION_BEFORE = pytest.StashKey[set["psutil.Process"]]()
_TESTS_RAN = pytest.StashKey[bool]()
#: Whether this session made its process the reaper of detached descendants yet.
_ADOPTING = pytest.StashKey[bool]()


def _strict(config: pytest.Config) -> bool:
    return bool(value(config, "mh_no_orphans"))


def _scans_each_test(item: pytest.Item) -> bool:
    """Whether each teardown looks beyond what the harness started (one scan of our
    descendants, a few ms): under mh_no_orphans and for contract cases. Otherwise
    such processes are swept at session end."""
    return _strict(item.config) or item.get_closest_marker("contract") is not None


# The tracking module is imported by each hook that needs it, on first use: a session
# that runs no test (--collect-only, a project that never uses the harness) never loads it.
_TRACK_MODULE = "migration_harness.proc._track"


def _tracked() -> bool:
    """Whether anything could have been tracked yet: only once the module is loaded."""
    return _TRACK_MODULE in sys.modules


def pytest_configure(config: pytest.Config) -> None:
    # No tracking module, subreaper, psutil or ctypes yet: a session that runs no test
    # (--collect-only, a project that never uses the harness and collects nothing) pays
    # none of it.
    want_guardian()
    if _tracked():
        from migration_harness.proc import _track

        config.stash[_SESSION_MARK] = _track.mark()
    else:
        config.stash[_SESSION_MARK] = 0
    config.stash[_FIXTURE_PROCESSES] = set()
    # Children started with plain subprocess inherit the marker: the way to find
    # them once they detach where there is no subreaper (macOS, Windows).
    config.stash[_SAVED_MARKER] = os.environ.get(MARKER_ENV)
    os.environ[MARKER_ENV] = RUN_TOKEN


def pytest_unconfigure(config: pytest.Config) -> None:
    saved = config.stash.get(_SAVED_MARKER, None)
    if saved is None:
        os.environ.pop(MARKER_ENV, None)
    else:
        os.environ[MARKER_ENV] = saved


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Iterator[None]:
    """Processes a module- or session-wide fixture starts are not one test's leftovers."""
    if fixturedef.scope == "function":
        yield
        return
    from migration_harness.proc import _track

    owned_by = _track.owned_by
    if not _strict(request.config):
        with owned_by(f"{fixturedef.scope}-scoped fixture {fixturedef.argname!r}"):
            yield
        return
    before = _track.run_processes()
    with owned_by(f"{fixturedef.scope}-scoped fixture {fixturedef.argname!r}"):
        yield
    owned = request.config.stash.get(_FIXTURE_PROCESSES, None)
    if owned is not None:
        owned.update(_track.run_processes() - before)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    from migration_harness.proc import _track

    if not item.config.stash.get(_ADOPTING, False):
        # Before the first test's fixtures start anything: whatever they detach is ours.
        _track.adopt_descendants()
        item.config.stash[_ADOPTING] = True
    item.stash[_ITEM_MARK] = _track.mark()
    if _scans_each_test(item):
        baseline = item.config.stash.get(_BASELINE, None)
        item.stash[_ITEM_BEFORE] = _track.run_processes() if baseline is None else baseline


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Runs after the test's fixtures are finalised: kill (and report) its leftovers."""
    watermark = item.stash.get(_ITEM_MARK, None)
    if watermark is None:
        return
    from migration_harness.proc import _track

    leftovers = _track.sweep(_track.entries_since(watermark, unowned_only=True))
    item.config.stash[_TESTS_RAN] = True
    if _ITEM_BEFORE in item.stash:
        zombies: list[int] = []
        running = _track.run_processes(zombies)
        started = _started_by_the_test(item, running)
        leftovers += _track.kill(started)
        _track.reap_orphans(zombies)
        item.config.stash[_BASELINE] = running - started
    else:
        item.config.stash[_BASELINE] = None  # no scan: the next scanning test makes its own
    if leftovers and _strict(item.config):
        pytest.fail(_leftover_message(leftovers), pytrace=False)


def _started_by_the_test(item: pytest.Item, running: set[psutil.Process]) -> set[psutil.Process]:
    """Those of ``running`` that appeared during the test and are not wider fixtures' own."""
    before: set[psutil.Process] = item.stash.get(_ITEM_BEFORE, set())
    fixtures: set[psutil.Process] = item.config.stash.get(_FIXTURE_PROCESSES, set())
    new = running - before - fixtures
    if new:
        from migration_harness.proc import _track

        owned = [e for e in _track.all_entries() if e.owner is not None]
        marked = _track.by_marker(owned)
        for entry in owned:
            new -= set(_track.family(entry, marked))
    return new


def _leftover_message(leftovers: list[Leftover]) -> str:
    count = f"{len(leftovers)} process{'es' if len(leftovers) != 1 else ''}"
    return "\n".join(
        [
            f"the test left {count} running (now killed; mh_no_orphans is on):",
            *(f"  {leftover.describe()}" for leftover in leftovers),
            "Stop what the test starts: use the `daemon` fixture, `with Daemon(...)`, "
            "or migration_harness.proc.kill_tree(pid).",
        ]
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    running: set[psutil.Process] = set()
    # --collect-only runs no test, so nothing can be left to tell apart from this.
    if not session.config.option.collectonly and _has_children():
        from migration_harness.proc import _track

        running = _track.run_processes()
    session.config.stash[_SESSION_BEFORE] = running


def _may_have_left_processes() -> bool:
    """False only when it is certain that nothing is left: this process reaps its detached
    descendants (Linux) and has no child at all. Saves the scan (and psutil) then."""
    from migration_harness.proc import _track

    return not _track.adopts_orphans() or _has_children()


def _has_children() -> bool:
    """Whether this process has any child now (running or exited, none reaped).

    Asked of the kernel with ``waitid(WNOHANG | WNOWAIT)`` where there is one: the
    usual outer session has no child at its start, and then needs no scan (nor
    psutil). Where there is no ``waitid`` (Windows), assume there are.
    """
    waitid = getattr(os, "waitid", None)
    if waitid is None or not hasattr(os, "WNOWAIT"):
        return True
    try:
        waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _tracked():
        return  # nothing was ever tracked, and no test ran (each test's setup loads it)
    from migration_harness.proc import _track

    watermark = session.config.stash.get(_SESSION_MARK, 0)
    leftovers = _track.sweep(_track.entries_since(watermark))
    if session.config.stash.get(_TESTS_RAN, False) and _may_have_left_processes():
        # Not where no test ran (pytest-xdist's controller: its workers are its children).
        before = session.config.stash.get(_SESSION_BEFORE, set())
        leftovers += _track.kill(_track.run_processes() - before)
    fixtures: set[psutil.Process] = session.config.stash.get(_FIXTURE_PROCESSES, set())
    leftovers += _track.kill(fixtures)
    session.config.stash[_SESSION_LEFTOVERS] = leftovers


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    leftovers = config.stash.get(_SESSION_LEFTOVERS, [])
    if leftovers:
        terminalreporter.write_line(
            f"migration-harness: killed {len(leftovers)} process(es) still running at "
            f"session end: " + "; ".join(leftover.describe() for leftover in leftovers)
        )


@pytest.fixture
def mh_run(mh_isolated_env: IsolatedEnv) -> Runner:
    """The plugin's ``run``, under a name no project's own fixture takes."""
    from migration_harness.fixtures import Runner

    return Runner(mh_isolated_env)


@pytest.fixture
def run(mh_run: Runner) -> Runner:
    """``run(args, cwd=None, timeout=60.0, input=None) -> RunResult`` in ``isolated_env``.
    Also reachable as ``mh_run``."""
    return mh_run


@pytest.fixture
def mh_start_together(mh_isolated_env: IsolatedEnv) -> StartTogether:
    """The plugin's ``start_together``, under a name no project's own fixture takes."""
    from migration_harness.fixtures import StartTogether

    return StartTogether(mh_isolated_env)


@pytest.fixture
def start_together(mh_start_together: StartTogether) -> StartTogether:
    """``start_together(commands, cwd=None, timeout=60.0) -> list[RunResult]``: every
    command started, released at one instant (a race), each result collected, in
    ``isolated_env``. Also reachable as ``mh_start_together``."""
    return mh_start_together


@pytest.fixture
def mh_daemon(mh_isolated_env: IsolatedEnv) -> Iterator[DaemonFactory]:
    """The plugin's ``daemon``, under a name no project's own fixture takes."""
    from migration_harness.fixtures import DaemonFactory

    factory = DaemonFactory(mh_isolated_env)
    yield factory
    factory.stop_all()


@pytest.fixture
def daemon(mh_daemon: DaemonFactory) -> DaemonFactory:
    """``daemon(args, ready=..., stop_command=...) -> Daemon`` (started) in ``isolated_env``;
    every daemon is stopped at teardown. Also reachable as ``mh_daemon``."""
    return mh_daemon
