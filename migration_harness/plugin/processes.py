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
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from migration_harness._platform import StrPath
from migration_harness.proc import DEFAULT_GRACE, Daemon, Readiness, RunResult, StopReport, _track
from migration_harness.proc import run as proc_run
from migration_harness.proc._track import (
    MARKER_ENV,
    RUN_TOKEN,
    Leftover,
    adopt_descendants,
    enable_guardian,
    entries_since,
    mark,
    owned_by,
    sweep,
)

if TYPE_CHECKING:
    from migration_harness.env import IsolatedEnv

_ITEM_MARK = pytest.StashKey[int]()
_SESSION_MARK = pytest.StashKey[int]()
_SESSION_LEFTOVERS = pytest.StashKey[list[Leftover]]()
_ITEM_BEFORE = pytest.StashKey[set[psutil.Process]]()
#: Plain processes (not started through the harness) that wider fixtures started.
_FIXTURE_PROCESSES = pytest.StashKey[set[psutil.Process]]()
_SAVED_MARKER = pytest.StashKey[str | None]()
#: What ran after the last test's teardown: the next test's baseline (saves a scan).
_BASELINE = pytest.StashKey[set[psutil.Process] | None]()
#: What ran when the session started (an in-process inner session must not sweep it).
_SESSION_BEFORE = pytest.StashKey[set[psutil.Process]]()
_TESTS_RAN = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("migration-harness")
    group.addoption(
        "--mh-no-orphans",
        action="store_true",
        default=False,
        help="error a test that leaves a process started through migration_harness.proc running "
        "(it is killed either way)",
    )
    parser.addini(
        "mh_no_orphans",
        type="bool",
        default=False,
        help="like --mh-no-orphans: error a test that leaves a harness process running",
    )


def _strict(config: pytest.Config) -> bool:
    return bool(config.getoption("mh_no_orphans") or config.getini("mh_no_orphans"))


def _scans_each_test(item: pytest.Item) -> bool:
    """Whether each teardown looks beyond what the harness started (one scan of our
    descendants, a few ms): under mh_no_orphans and for contract cases. Otherwise
    such processes are swept at session end."""
    return _strict(item.config) or item.get_closest_marker("contract") is not None


def pytest_configure(config: pytest.Config) -> None:
    adopt_descendants()
    enable_guardian()
    config.stash[_SESSION_MARK] = mark()
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
    item.stash[_ITEM_MARK] = mark()
    if _scans_each_test(item):
        baseline = item.config.stash.get(_BASELINE, None)
        item.stash[_ITEM_BEFORE] = _track.run_processes() if baseline is None else baseline


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Runs after the test's fixtures are finalised: kill (and report) its leftovers."""
    watermark = item.stash.get(_ITEM_MARK, None)
    if watermark is None:
        return
    leftovers = sweep(entries_since(watermark, unowned_only=True))
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
    session.config.stash[_SESSION_BEFORE] = _track.run_processes()


def pytest_sessionfinish(session: pytest.Session) -> None:
    watermark = session.config.stash.get(_SESSION_MARK, 0)
    leftovers = sweep(entries_since(watermark))
    if session.config.stash.get(_TESTS_RAN, False):
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


class Runner:
    """The ``run`` fixture: :func:`migration_harness.proc.run` in the test's isolated env."""

    def __init__(self, env: IsolatedEnv) -> None:
        self.env = env

    def __call__(
        self,
        args: Sequence[StrPath],
        *,
        cwd: StrPath | None = None,
        timeout: float | None = 60.0,
        input: bytes | str | None = None,
    ) -> RunResult:
        # env is read at each call: the test may change PATH after the fixture was made.
        return proc_run(args, env=self.env.vars, cwd=cwd, timeout=timeout, input=input)


class DaemonFactory:
    """The ``daemon`` fixture: start daemons in the test's environment; all stopped at teardown."""

    def __init__(self, env: IsolatedEnv) -> None:
        self.env = env
        self.started: list[Daemon] = []

    def __call__(
        self,
        args: Sequence[StrPath],
        *,
        ready: Readiness | str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: StrPath | None = None,
        start_timeout: float = 30.0,
        stop_command: Sequence[StrPath] | None = None,
        grace: float = DEFAULT_GRACE,
        name: str | None = None,
        start: bool = True,
    ) -> Daemon:
        """Create (and unless ``start=False``, start) a :class:`migration_harness.proc.Daemon`."""
        daemon = Daemon(
            args,
            env=self.env.vars if env is None else env,
            cwd=cwd,
            ready=ready,
            start_timeout=start_timeout,
            stop_command=stop_command,
            grace=grace,
            name=name,
        )
        self.started.append(daemon)
        return daemon.start() if start else daemon

    def stop_all(self) -> list[StopReport]:
        """Stop every daemon, newest first (a later daemon may depend on an earlier one)."""
        return [daemon.stop() for daemon in reversed(self.started)]


@pytest.fixture
def run(isolated_env: IsolatedEnv) -> Runner:
    """``run(args, cwd=None, timeout=60.0, input=None) -> RunResult`` in ``isolated_env``."""
    return Runner(isolated_env)


@pytest.fixture
def daemon(isolated_env: IsolatedEnv) -> Iterator[DaemonFactory]:
    """``daemon(args, ready=..., stop_command=...) -> Daemon`` (started); stopped at teardown."""
    factory = DaemonFactory(isolated_env)
    yield factory
    factory.stop_all()
