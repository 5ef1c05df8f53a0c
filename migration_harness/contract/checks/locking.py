"""lock-held, stale-lock, concurrent, daemon: the promises a tool makes to other processes."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migration_harness.contract._failure import ContractFailure, ContractSkip
from migration_harness.contract._registry import Case, Context, contract, lacks, single, span
from migration_harness.contract._tool import HANG_MARGIN_S, Tool
from migration_harness.databases import SERVER_LOCK_STYLES, hold_server_lock
from migration_harness.files import TreeSnapshot
from migration_harness.locks import LockHolder, UnsupportedLockStyle, hold_lock
from migration_harness.proc import Daemon, RunResult, start_together
from migration_harness.target import Target, fill

if TYPE_CHECKING:
    from migration_harness.contract.checks.external import StepSpies
    from migration_harness.race import Racing

# fail-fast: how soon a refusal must come when the lock is held.
FAIL_FAST_BOUND_S = 10.0
# wait: how long the tool must still be waiting (and the repo untouched) while held.
BLOCKED_CHECK_S = 1.0
# stale lock, recover: slack on top of stale_after_s for the tool to notice and proceed.
RECOVER_SLACK_S = 5.0
# wait, lock held past lock_wait_s: slack on top of lock_wait_s for the tool to give up.
GIVE_UP_SLACK_S = 5.0


def _lock_cases(target: Target) -> list[Case]:
    style = target.lock.style if target.lock else "none"
    skip = lacks("lock", "`lock`")(target)
    cases = [Case(style, skip=skip)]
    if target.on_lock_held == "wait":
        # The tool's own give-up path: the lock stays held past lock_wait_s.
        cases.append(Case(f"{style}-past-wait", {"past_wait": True}, skip=skip))
    return cases


@contract(
    "lock-held",
    "with the lock held by another process the tool fails fast naming it, or waits "
    "(and gives up clearly once lock_wait_s has passed)",
    _lock_cases,
)
def lock_held(ctx: Context, case: Case) -> None:
    tool, repo = ctx.tool, ctx.repo
    start = _Start.at_oldest(tool, repo)
    if case.params.get("past_wait"):
        with _held(tool, repo):
            _expect_give_up(tool, start)
        return
    with _held(tool, repo) as holder:
        _contend(tool, start, holder.release, "while the lock is held", "after the release")
    start.expect_migrated(tool, "after the release")


def _expect_give_up(tool: Tool, start: _Start) -> None:
    """on_lock_held = wait, with the lock never released: the tool must stop waiting
    within lock_wait_s (+ slack), exit non-zero naming the lock, and leave the repo be."""
    target = tool.target
    bound = target.lock_wait_s + GIVE_UP_SLACK_S
    doing = f"migrating while the lock stays held past lock_wait_s = {target.lock_wait_s:g}s"
    result = tool.migrate(start.repo, target.latest, target.oldest, timeout=bound)
    if result.timed_out:
        raise tool.fail(
            f"{doing}: still waiting after lock_wait_s + {GIVE_UP_SLACK_S:g}s = {bound:g}s; "
            "killed (a tool that waits must give up in the time it declares)"
        )
    tool.expect_refusal(result, doing, "giving up must name the lock", target.lock_message)
    start.expect_untouched(tool, f"after giving up {doing[len('migrating ') :]}")


@contract(
    "stale-lock",
    "after the lock holder is killed hard the tool recovers, or refuses saying what to do",
    _lock_cases,
)
def stale_lock(ctx: Context, case: Case) -> None:
    tool, repo, target = ctx.tool, ctx.repo, ctx.target
    start = _Start.at_oldest(tool, repo)
    with _held(tool, repo) as holder:
        holder.crash()
    if target.on_stale_lock == "refuse":
        result = tool.migrate(repo, target.latest, target.oldest, timeout=FAIL_FAST_BOUND_S)
        _expect_fast_refusal(tool, result, "migrating over a stale lock")
        start.expect_untouched(tool, "after the refused run")
        return
    bound = target.stale_after_s + RECOVER_SLACK_S
    result = tool.migrate(repo, target.latest, target.oldest, timeout=bound + target.lock_wait_s)
    tool.expect_ok(result, "migrating over a stale lock left by a killed holder")
    if result.duration > bound:
        raise tool.fail(
            f"recovering from the stale lock took {result.duration:.1f}s; the bound is "
            f"stale_after_s + {RECOVER_SLACK_S:g}s = {bound:g}s"
        )
    start.expect_migrated(tool, "after recovering")


def _concurrent_cases(target: Target) -> list[Case]:
    start = target.start_of_concurrency
    label = (
        f"{target.version_name(start)}-{target.version_name(target.latest)}x{target.concurrent_n}"
    )
    return [Case(label, {"from": start, "n": target.concurrent_n})]


@contract(
    "concurrent",
    "N migrators released at once, round after round: one wins, the rest wait or fail "
    "clearly, data intact",
    _concurrent_cases,
)
def concurrent(ctx: Context, case: Case) -> None:
    # A race breaks a careless tool in some rounds only: repeat it, stop at the first
    # broken round and say which it was.
    from migration_harness.contract.checks.external import spy_on_steps

    tool, rounds, target = ctx.tool, ctx.target.concurrent_rounds, ctx.target
    start = case.params["from"]
    spies = spy_on_steps(tool, ctx.workdir / "spies", start) if target.external else None
    racing = _racing(ctx, case)
    for number in range(1, rounds + 1):
        ctx.progress(f"round {number} of {rounds}")
        tool.transcript.clear()  # the rounds before this one passed: show this one's commands
        if number > 1:
            tool.scratch.remove_repo(ctx.repo, "remove the previous round's repo")
        try:
            _race_once(ctx, case, spies, racing)
        except ContractFailure as failure:
            passed = {1: "", 2: "; round 1 passed"}.get(number, f"; rounds 1-{number - 1} passed")
            how = f"round {number} of {rounds} ({racing.describe()}{passed})"
            failure.message = f"{how}: {failure.message}"
            raise
    ctx.notes.append(f"{rounds} rounds of {case.params['n']} racers ({racing.describe()})")


def _race_once(ctx: Context, case: Case, spies: StepSpies | None, racing: Racing) -> None:
    tool, repo, target = ctx.tool, ctx.repo, ctx.target
    start, n = case.params["from"], case.params["n"]
    tool.create(repo, start)
    before = tool.dump(repo, "before the race")
    calls_before = len(spies.calls()) if spies is not None else 0
    args = tool.env.resolve(tool.migrate_args(repo, target.latest, start))
    bound = target.timeout_s + (target.lock_wait_s if target.on_lock_held == "wait" else 0)
    raced = start_together(
        [racing.wrap(args)] * n, env=tool.env.vars, cwd=ctx.workdir, timeout=bound
    )
    # The transcript shows each racer's own command; the round's message names the racing.
    results = [dataclasses.replace(result, args=args) for result in raced]
    tool.transcript.add_together(results)
    winners = [r for r in results if r.ok]
    for i, result in enumerate(results, 1):
        doing = f"racer {i} of {n}"
        if target.on_lock_held == "wait" or result.ok:
            tool.expect_ok(result, f"{doing} (on_lock_held = wait: every racer must succeed)")
        else:
            tool.expect_refusal(result, doing, "a loser must name the lock", target.lock_message)
    if not winners:
        raise tool.fail(f"none of the {n} racers succeeded")
    tool.expect_version(repo, target.latest, "after the race")
    tool.expect_content(repo, before, target.latest, "after the race")
    if spies is not None:
        spies.expect_each_once(tool, "during the race", since=calls_before)


# Each racer under strace loses about this much to delays on the repo's files: well over
# how far apart racers start on a busy machine, so unguarded steps overlap (a lock-free
# SQLite migrator was caught in 10 of 10 rounds with 1 s, 7 of 10 with 0.2 s).
DELAY_BUDGET_S = 1.0


def _racing(ctx: Context, case: Case) -> Racing:
    """Plain racing, or strace delays planned on one traced migration of the case's repo
    (``concurrent.delays``: "auto" falls back to plain racing, "strace" skips)."""
    from migration_harness.race import PLAIN, DelaysUnavailable, delays_unavailable_reason

    target, mode = ctx.target, ctx.target.concurrent_delays
    if mode == "off":
        return PLAIN
    budget = _delay_budget(target, case.params["n"])
    try:
        reason = delays_unavailable_reason(budget)
        if reason is not None:
            raise DelaysUnavailable(reason)
        return _plan_delays(ctx, case, budget)
    except DelaysUnavailable as exc:
        if mode == "strace":
            raise ContractSkip(f'concurrent.delays = "strace": {exc.reason}') from None
        return PLAIN.because(exc.reason)


def _delay_budget(target: Target, n: int) -> float:
    """What delays may cost each racer without a correct tool running out of time: a
    waiting tool's last racer waits out the other n - 1, and must still get the lock
    well within lock_wait_s."""
    budget = min(DELAY_BUDGET_S, target.timeout_s / 4)
    if target.on_lock_held == "wait":
        budget = min(budget, target.lock_wait_s / (4 * (n - 1)))
    return budget


def _plan_delays(ctx: Context, case: Case, budget: float) -> Racing:
    from migration_harness.race import plan_delays

    tool, repo, target, start = ctx.tool, ctx.repo, ctx.target, case.params["from"]
    tool.create(repo, start)
    try:
        args = tool.env.resolve(tool.migrate_args(repo, target.latest, start))
        return plan_delays(
            args,
            env=tool.env.vars,
            cwd=ctx.workdir,
            repo=repo,
            budget_s=budget,
            timeout=target.timeout_s,
        )
    finally:
        tool.scratch.remove(repo, "remove the repo the race's delays were planned on")


def _daemon_missing(target: Target) -> str | None:
    return lacks("daemon", "[target.daemon]")(target)


@contract(
    "daemon",
    "migrating while the daemon runs is refused harmlessly; after a graceful stop it works",
    single(span, _daemon_missing),
)
def daemon(ctx: Context, case: Case) -> None:
    tool, repo, target = ctx.tool, ctx.repo, ctx.target
    assert target.daemon is not None
    tool.create(repo, target.oldest)
    before_dump = tool.dump(repo, "before starting the daemon")
    if target.daemon.migrates_on_start:
        _daemon_migrates_on_start(ctx, before_dump)
        return
    with _running_daemon(tool, repo) as stop:
        # Taken once the daemon runs: what it writes on start is not the migration's doing.
        start = _Start.snapshot(tool, repo, before_dump)
        _contend(tool, start, stop, "while the daemon runs", "after the daemon stopped")
    start.expect_migrated(tool, "after the daemon stopped")


def _daemon_migrates_on_start(ctx: Context, before_dump: str) -> None:
    tool, repo = ctx.tool, ctx.repo
    with _running_daemon(tool, repo) as stop:
        stop()
    start = _Start.snapshot(tool, repo, before_dump)
    start.expect_migrated(tool, "after the first daemon start")
    with _running_daemon(tool, repo) as stop:
        stop()
    start.expect_untouched(tool, "after a second daemon start (must be a no-op)")


# --- helpers -----------------------------------------------------------------------


@dataclass
class _Start:
    """A repo at the oldest version and what it held before anyone contended for it."""

    repo: Path
    dump: str
    ignore: list[str]
    tree: TreeSnapshot

    @classmethod
    def at_oldest(cls, tool: Tool, repo: Path) -> _Start:
        tool.create(repo, tool.target.oldest)
        return cls.snapshot(tool, repo, tool.dump(repo, "before migrating"))

    @classmethod
    def snapshot(cls, tool: Tool, repo: Path, dump: str) -> _Start:
        ignore = tool.relative_ignores(repo)
        return cls(repo, dump, ignore, tool.snapshot(repo, ignore))

    def expect_untouched(self, tool: Tool, when: str) -> None:
        diff = self.tree.diff(tool.snapshot(self.repo, self.ignore))
        if diff:
            raise tool.fail(f"{when}: the repo changed while it must be untouched:\n{diff}")

    def expect_migrated(self, tool: Tool, when: str) -> None:
        tool.expect_version(self.repo, tool.target.latest, when)
        tool.expect_content(self.repo, self.dump, tool.target.latest, when)


def _contend(
    tool: Tool, start: _Start, release: Callable[[], None], while_held: str, after: str
) -> None:
    """Migrate while something else holds the lock: a fail-fast tool must refuse at once
    and a waiting tool must still be waiting, the repo untouched either way; then
    ``release`` and the migration must go through."""
    target, repo = tool.target, start.repo
    if target.on_lock_held == "fail-fast":
        result = tool.migrate(repo, target.latest, target.oldest, timeout=FAIL_FAST_BOUND_S)
        _expect_fast_refusal(tool, result, f"migrating {while_held}")
        start.expect_untouched(tool, f"after the run refused {while_held}")
        release()
        tool.expect_ok(tool.migrate(repo, target.latest, target.oldest), f"migrating {after}")
        return
    waiter = _Background(lambda: tool.migrate(repo, target.latest, target.oldest))
    _expect_blocked(tool, waiter, start, while_held)
    release()
    result = waiter.join(target.lock_wait_s + HANG_MARGIN_S)
    tool.expect_ok(result, f"the waiting migration, {after}")


class _Background:
    """A command running in a thread, so the contract can watch it while it blocks."""

    def __init__(self, fn: Callable[[], RunResult]) -> None:
        self._result: RunResult | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], RunResult]) -> None:
        self._result = fn()

    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> RunResult:
        self._thread.join(timeout)
        if self._result is None:
            raise AssertionError(f"the background command did not finish within {timeout:g}s")
        return self._result


def _expect_blocked(tool: Tool, waiter: _Background, start: _Start, when: str) -> None:
    deadline = time.monotonic() + BLOCKED_CHECK_S
    while time.monotonic() < deadline and waiter.running():
        time.sleep(0.05)
    if not waiter.running():
        result = waiter.join(0)
        raise tool.fail(
            f"{when}: the migration exited ({'exit ' + str(result.returncode)}) after "
            f"{result.duration:.2f}s instead of waiting (on_lock_held = wait)"
        )
    start.expect_untouched(tool, when)


def _expect_fast_refusal(tool: Tool, result: RunResult, doing: str) -> None:
    if result.timed_out:
        raise tool.fail(
            f"{doing}: still running after {FAIL_FAST_BOUND_S:g}s "
            "(on_lock_held = fail-fast); killed"
        )
    tool.expect_refusal(result, doing, "must name the lock", tool.target.lock_message)


@contextmanager
def _held(tool: Tool, repo: Path) -> Iterator[LockHolder]:
    lock = tool.target.lock
    assert lock is not None
    path = tool.path(lock.path, repo) if lock.path else None
    if path is not None:
        tool.scratch.entry(path, "take the lock at")  # a planted symlink is not followed out
    if tool.databases is not None and lock.style in SERVER_LOCK_STYLES:
        assert lock.operand is not None  # checked when the target was built
        operand = lock.operand
        if isinstance(operand, str):  # a name may hold placeholders: "mytool-{db_name}"
            operand = fill(operand, tool.values(repo))
        with hold_server_lock(tool.databases.of(repo), lock.style, operand) as held:
            yield held
        return
    try:
        holder = hold_lock(
            lock.style,
            path,
            command=tool.command(lock.hold, repo) if lock.hold else None,
            ready=lock.ready,
            release_command=tool.command(lock.release, repo) if lock.release else None,
            env=tool.env.vars,
            cwd=tool.workdir,
        )
    except UnsupportedLockStyle as exc:
        raise ContractSkip(f"lock style {lock.style!r} cannot be held here: {exc}") from None
    with holder:
        yield holder


@contextmanager
def _running_daemon(tool: Tool, repo: Path) -> Iterator[Callable[[], None]]:
    spec = tool.target.daemon
    assert spec is not None
    daemon = Daemon(
        tool.env.resolve(tool.command(spec.start, repo)),
        env=tool.env.vars,
        cwd=tool.workdir,
        ready=spec.ready,
        start_timeout=spec.start_timeout_s,
        stop_command=tool.env.resolve(tool.command(spec.stop, repo)) if spec.stop else None,
        name=f"{tool.target.name} daemon",
    )
    try:
        daemon.start()
    except Exception as exc:
        raise tool.fail(f"starting the daemon failed: {exc}") from None
    stopped = False

    def stop() -> None:
        nonlocal stopped
        report = daemon.stop()
        stopped = True
        if report.step == "already-exited":
            raise tool.fail(f"the daemon exited on its own (exit {report.returncode})")
        if report.step == "kill":
            raise tool.fail(
                f"the daemon ignored every polite stop request and was killed after "
                f"{report.duration:.2f}s ({'; '.join(report.notes)})"
            )

    try:
        yield stop
    finally:
        if not stopped:
            daemon.stop()
