"""The types the plugin's fixtures return, for annotating tests and helpers.

- ``isolated_env`` (``mh_isolated_env``): :class:`IsolatedEnv`
- ``safe_tmp_path`` (``mh_safe_tmp_path``): :class:`pathlib.Path`
- ``mockbin`` (``mh_mockbin``): :class:`MockBin`
- ``run`` (``mh_run``): :class:`Runner`
- ``daemon`` (``mh_daemon``): :class:`DaemonFactory`
- ``start_together`` (``mh_start_together``): :class:`StartTogether`
- ``lock_holder`` (``mh_lock_holder``): :class:`LockHolderFactory`
- ``postgres``, ``mariadb`` (``mh_postgres``, ``mh_mariadb``): :class:`Database`
- ``postgres_server``, ``mariadb_server`` (session-scoped; ``mh_`` twins too): :class:`Server`

Each fixture is also reachable as its ``mh_`` twin, the same object in the same test:
a project whose own ``run`` or ``daemon`` fixture hides the plugin's still reaches it
as ``mh_run`` or ``mh_daemon``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from migration_harness._platform import StrPath
from migration_harness.databases import (
    LOCK_OPERAND,
    SERVER_LOCK_STYLES,
    Database,
    Server,
    hold_server_lock,
)
from migration_harness.env import IsolatedEnv
from migration_harness.locks import LockHolder, UnsupportedLockStyle, hold_lock
from migration_harness.mockbin import MockBin
from migration_harness.proc import DEFAULT_GRACE, Daemon, Readiness, RunResult, StopReport
from migration_harness.proc import run as proc_run
from migration_harness.proc import start_together as proc_start_together

__all__ = [
    "DaemonFactory",
    "Database",
    "IsolatedEnv",
    "LockHolderFactory",
    "MockBin",
    "Runner",
    "Server",
    "StartTogether",
]


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


class StartTogether:
    """The ``start_together`` fixture: :func:`migration_harness.proc.start_together` (start
    every command, release them at one instant, collect each result) in the test's
    isolated env."""

    def __init__(self, env: IsolatedEnv) -> None:
        self.env = env

    def __call__(
        self,
        commands: Sequence[Sequence[StrPath]],
        *,
        cwd: StrPath | None = None,
        timeout: float | None = 60.0,
    ) -> list[RunResult]:
        return proc_start_together(commands, env=self.env.vars, cwd=cwd, timeout=timeout)


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


def _hold_server_lock(style: str, database: Database | None, kwargs: dict[str, Any]) -> LockHolder:
    operand_name = LOCK_OPERAND[style]
    operand = kwargs.pop(operand_name, None)
    if database is None or operand is None:
        raise ValueError(
            f"lock style {style!r} is a lock on a database server: call it as"
            f" lock_holder({style!r}, database=<a Database, e.g. the postgres fixture>,"
            f" {operand_name}=...)"
        )
    return hold_server_lock(database, style, operand, **kwargs)


class LockHolderFactory:
    """``lock_holder(style, path, **kw)``: :func:`migration_harness.locks.hold_lock`, but an
    unsupported style skips the test with the reason, and every holder still
    alive at teardown is released (or killed). A server lock style takes the database
    instead of a path: ``lock_holder("postgresql-advisory", database=postgres, key=42)``."""

    def __init__(self) -> None:
        self.holders: list[LockHolder] = []

    def __call__(
        self, style: str, path: Any = None, *, database: Database | None = None, **kwargs: Any
    ) -> LockHolder:
        if style in SERVER_LOCK_STYLES:
            holder = _hold_server_lock(style, database, kwargs)
        else:
            try:
                holder = hold_lock(style, path, **kwargs)
            except UnsupportedLockStyle as exc:
                pytest.skip(str(exc))
        self.holders.append(holder)
        return holder

    def close(self) -> None:
        for holder in reversed(self.holders):
            holder.close()
