"""Assertions about how a tool behaves when its lock is taken."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from migration_harness._platform import StrPath
from migration_harness.files import assert_tree_unchanged, snapshot_tree
from migration_harness.locks._api import OUTPUT_DRAIN_TIMEOUT, LockHolder
from migration_harness.proc import Capture, kill_tree, start_captured
from migration_harness.refusals import ResultLike, assert_refuses


def assert_fails_fast(
    result: ResultLike,
    *,
    within: float,
    message: str | None = r"(?i)lock",
    allow_traceback: bool = False,
) -> None:
    """Fail unless the run exited non-zero, within ``within`` seconds, not by timeout,
    with output matching the regex ``message`` and (by default) no stack trace: the
    general :func:`migration_harness.refusals.assert_refuses`, worded for a held lock."""
    assert_refuses(
        result,
        message=message,
        within=within,
        allow_traceback=allow_traceback,
        because="although the lock was held",
        expected="a fast, clean failure",
    )


@dataclass
class BlockedRun:
    """What :func:`assert_blocks_until_released` saw."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    blocked_for: float
    after_release: float

    @property
    def output(self) -> str:
        """stdout followed by stderr, as :attr:`RunResult.output`."""
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"command: {self.args}\nexit status: {self.returncode}\n"
            f"blocked for {self.blocked_for:.2f}s, then finished {self.after_release:.2f}s "
            f"after the release\n[stdout]\n{self.stdout}\n[stderr]\n{self.stderr}"
        )


def _stop(proc: subprocess.Popen[bytes], output: Capture) -> str:
    kill_tree(proc.pid)
    proc.wait(timeout=30)
    output.finish(OUTPUT_DRAIN_TIMEOUT)
    return output.labelled()


def assert_blocks_until_released(
    holder: LockHolder,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
    blocked_for: float = 1.0,
    finish_within: float = 60.0,
    repo: StrPath | None = None,
    ignore: Sequence[str] = (),
    waiting: str | None = None,
) -> BlockedRun:
    """Start ``args`` while ``holder`` holds the lock; check it is still waiting after
    ``blocked_for`` seconds (and ``repo``, if given, is byte-identical), release the
    lock, and check it then exits 0 within ``finish_within`` seconds.

    ``waiting``: a regex the command prints once it is running (e.g. cargo's
    "Blocking waiting for file lock"); the ``blocked_for`` clock then starts only
    when it appears, so a slow start (Wine, a loaded CI machine) is never taken
    for waiting."""
    before = snapshot_tree(repo, ignore=ignore) if repo is not None else None
    argv = list(args)
    launched = start_captured(argv, env=env, cwd=cwd, lines=True)
    proc, output = launched.proc, launched.output
    if waiting is not None and not output.wait_for(re.compile(waiting), timeout=finish_within):
        text = _stop(proc, output)
        raise AssertionError(
            f"{argv} never printed a line matching {waiting!r} while the lock was held "
            f"(status {proc.returncode}):\n{text}"
        )
    started = time.monotonic()
    try:
        code = proc.wait(timeout=blocked_for)
    except subprocess.TimeoutExpired:
        code = None
    if code is not None:
        output.finish(OUTPUT_DRAIN_TIMEOUT)
        raise AssertionError(
            f"{argv} exited with status {code} after {time.monotonic() - started:.2f}s while "
            f"the {holder.style} lock was held; it should have waited:\n{output.labelled()}"
        )
    if before is not None:
        try:
            assert_tree_unchanged(before, ignore=ignore)
        except AssertionError as exc:
            text = _stop(proc, output)
            raise AssertionError(f"{exc}\n(while the lock was held)\n{text}") from None
    waited = time.monotonic() - started
    holder.release()
    released = time.monotonic()
    try:
        code = proc.wait(timeout=finish_within)
    except subprocess.TimeoutExpired:
        text = _stop(proc, output)
        raise AssertionError(
            f"{argv} still ran {finish_within:g}s after the lock was released:\n{text}"
        ) from None
    output.finish(OUTPUT_DRAIN_TIMEOUT)
    run = BlockedRun(
        argv, code, output.stdout.text(), output.stderr.text(), waited, time.monotonic() - released
    )
    if code != 0:
        raise AssertionError(f"after the release the command failed:\n{run.describe()}")
    return run
