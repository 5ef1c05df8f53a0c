"""crash: kill the migrator at each crash point; no data may be lost, ever."""

from __future__ import annotations

import os
import queue
import sys
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migration_harness.contract._failure import ContractFailure, ContractSkip
from migration_harness.contract._registry import Case, Context, contract, single, span
from migration_harness.contract._states import CheckedStates
from migration_harness.contract._tool import Tool, Transcript

if TYPE_CHECKING:
    from migration_harness.crash import CrashBackend, CrashPoint
    from migration_harness.proc import RunResult

#: Where the lanes of a case's crash points live: ``<scratch>/points/00/repo``, ``01``...
#: Lanes are named by digits alone: the strace backend checks each killed call against a
#: signature with digit runs masked, so a point planned in lane 00 matches in every lane.
LANES_DIR = "points"
MAX_LANES = 16
#: Lanes per CPU by default. A point waits much of its time (process starts, the parked
#: call), so two lanes per CPU keep the CPUs busy; on Windows, where starting a process is
#: itself the costly part, one (as check's workers).
LANES_PER_CPU = 1 if sys.platform == "win32" else 2


@dataclass
class PointOutcome:
    point: CrashPoint
    problem: str | None  # None: the repo survived this crash
    unreachable: str | None = None  # why the run could not be stopped at this point
    transcript: list[RunResult] | None = None  # the commands of a broken point's lane

    def line(self) -> str:
        if self.unreachable is not None:
            verdict = "not run: " + self.unreachable
        else:
            verdict = "ok" if self.problem is None else "FAILED: " + self.problem.splitlines()[0]
        return f"  #{self.point.index:<3} {self.point.describe()}  -> {verdict}"


def backend_for(ctx: Context) -> CrashBackend:
    from migration_harness.crash import BackendUnavailable, pick_backend

    spec = ctx.target.crash
    name = ctx.options.crash_backend or spec.backend
    databases = ctx.tool.databases
    servers = (f"{databases.server.host}:{databases.server.port}",) if databases else ()
    try:
        backend = pick_backend(
            name,
            hook_supported=spec.hook,
            max_points=spec.max_points,
            slices=spec.sweep_k,
            servers=servers,
        )
    except BackendUnavailable as exc:
        raise ContractSkip(str(exc)) from None
    reason = backend.unavailable_reason()
    if reason is not None:
        raise ContractSkip(f"crash backend {backend.name!r} cannot run here: {reason}")
    return backend


@contract(
    "crash",
    "killed at each crash point, the repo stays valid and a re-run reaches latest; no data lost",
    single(span),
)
def crash(ctx: Context, case: Case) -> None:
    tool = ctx.tool
    backend = backend_for(ctx)
    lanes = wanted_lanes(ctx, backend)
    crasher = Crasher.prepare(ctx, backend, lane_repo(ctx, 0) if lanes > 1 else ctx.repo)
    points = crasher.points()
    if not points:
        raise tool.fail(f"the {backend.name} backend found no crash points in a migration run")
    crashers = [crasher, *(crasher.lane(n) for n in range(1, min(lanes, len(points))))]
    outcomes = run_points(ctx, crashers, points)
    if all(o.unreachable is not None for o in outcomes):
        raise ContractSkip(
            f"the {backend.name} backend could not stop the migration at any of its "
            f"{len(points)} crash points (its calls differ from run to run):\n"
            + "\n".join(o.line() for o in outcomes)
        )
    found = getattr(points, "sampled_from", None) or len(points)
    note = _points_note(backend.name, outcomes, found)
    if crasher.checked.reused:
        note += f"; {crasher.checked.reused} repeated repo states not read again"
    ctx.notes.append(note)
    first = outcomes[-1]
    if first.problem is not None:
        lines = [o.line() for o in outcomes]
        lines += [f"  #{p.index:<3} {p.describe()}  -> not run" for p in points[len(outcomes) :]]
        raise ContractFailure(
            f"crash point {len(outcomes)} of {len(points)} ({backend.name} backend, "
            f"{found} found) broke the repo:\n  {first.point.describe()}\n\n"
            f"{first.problem}\n\nevery crash point:\n" + "\n".join(lines),
            first.transcript if first.transcript is not None else tool.transcript,
        )


def wanted_lanes(ctx: Context, backend: CrashBackend) -> int:
    """How many crash points run side by side (each lane on its own copy of the repo)."""
    if backend.name == "sweep":
        return 1  # timed kills: the aim gets worse as the machine gets busier
    lock = ctx.target.lock
    if lock is not None and lock.path is not None and not lock.path.startswith("{repo}"):
        return 1  # a lock outside the repo would be one lock for every lane
    per_cpu = LANES_PER_CPU * (os.cpu_count() or 1)
    jobs = ctx.options.crash_jobs or ctx.target.crash.jobs or per_cpu
    return max(1, min(jobs, MAX_LANES))


def lane_repo(ctx: Context, number: int) -> Path:
    return ctx.workdir / LANES_DIR / f"{number:02d}" / ctx.repo.name


def run_points(
    ctx: Context, crashers: list[Crasher], points: Sequence[CrashPoint]
) -> list[PointOutcome]:
    """Each point's outcome, in order, up to the first that broke the repo (the answer;
    the rest would be noise): the same list whether the points ran one by one or side by
    side in several lanes."""
    name = crashers[0].backend.name
    if len(crashers) == 1:
        outcomes: list[PointOutcome] = []
        for point in points:
            ctx.progress(f"{len(outcomes)} of {len(points)} crash points ({name})")
            outcomes.append(_survive(ctx, crashers[0], point))
            if outcomes[-1].problem is not None:
                break
        return outcomes
    done = _in_lanes(ctx, crashers, points)
    broken = [i for i, outcome in done.items() if outcome.problem is not None]
    last = min(broken) if broken else len(points) - 1
    return [done[i] for i in range(last + 1)]


def _in_lanes(
    ctx: Context, crashers: list[Crasher], points: Sequence[CrashPoint]
) -> dict[int, PointOutcome]:
    """Run the points in order over the lanes, each lane one point at a time; once a
    point breaks the repo, start no more, but finish those before it."""
    free: queue.SimpleQueue[Crasher] = queue.SimpleQueue()
    for crasher in crashers:
        free.put(crasher)

    def survive(index: int) -> tuple[int, PointOutcome]:
        lane = free.get()
        try:
            return index, _survive(ctx, lane, points[index])
        finally:
            free.put(lane)

    done: dict[int, PointOutcome] = {}
    doing = f"crash points ({crashers[0].backend.name}, {len(crashers)} lanes)"
    upcoming = iter(range(len(points)))
    pool = ThreadPoolExecutor(len(crashers), thread_name_prefix="mh-crash-lane")
    try:
        running = {pool.submit(survive, i) for _, i in zip(crashers, upcoming, strict=False)}
        while running:
            ctx.progress(f"{len(done)} of {len(points)} {doing}")
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                index, outcome = future.result()
                done[index] = outcome
                following = next(upcoming, None) if outcome.problem is None else None
                if following is not None and all(o.problem is None for o in done.values()):
                    running.add(pool.submit(survive, following))
    except BaseException:
        # An interrupt or a harness error: do not wait for the other lanes; the run's
        # process sweep kills their commands, and each lane's thread ends with its command.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return done


def _points_note(backend: str, outcomes: list[PointOutcome], found: int) -> str:
    """``strace: 40 of 112 points`` (+ how many could not be reproduced)."""
    skipped = sum(1 for o in outcomes if o.unreachable is not None)
    note = f"{backend}: {len(outcomes) - skipped} of {found} points"
    return note + (f", {skipped} not reproducible" if skipped else "")


@dataclass
class Crasher:
    """A repo at the oldest version, a pristine copy of it, and a backend that kills
    migrations of that repo at its crash points."""

    ctx: Context
    backend: CrashBackend
    repo: Path
    pristine: Path
    args: list[str]
    tool: Tool
    before: str | None = None  # the repo's dump at the oldest version, once created
    planned_at: Path | None = None  # where the points were planned, if not at ``repo``
    checked: CheckedStates = field(default_factory=lambda: CheckedStates(enabled=False))

    @classmethod
    def prepare(cls, ctx: Context, backend: CrashBackend, repo: Path) -> Crasher:
        crasher = cls._at(ctx, backend, repo, ctx.tool)
        crasher.checked = CheckedStates(enabled=ctx.tool.databases is None)
        crasher._create()
        return crasher

    @classmethod
    def _at(cls, ctx: Context, backend: CrashBackend, repo: Path, tool: Tool) -> Crasher:
        target = ctx.target
        # Not named "<repo>-...": beside a single-file repo that would be a companion.
        pristine = repo.with_name("pristine-" + repo.name)
        args = tool.env.resolve(tool.migrate_args(repo, target.latest, target.oldest))
        return cls(ctx, backend, repo, pristine, args, tool)

    def _create(self) -> str:
        self.tool.create(self.repo, self.ctx.target.oldest)
        self.before = self.tool.dump(self.repo, "before migrating")
        self.tool.keep_pristine(self.repo, self.pristine)
        return self.before

    def lane(self, number: int) -> Crasher:
        """Another lane, with its own transcript, in the same environment. Its repo is
        created at its own path on its first point, not copied from this one: a tool may
        keep absolute paths inside its repo (a config naming its database file), and a
        copy would migrate this lane's repo."""
        tool = Tool(self.ctx.target, self.ctx.workdir, env=self.tool.env)
        # Lanes run side by side: their time is not the case's tool time, which counts
        # the commands of lane 00 only (with one lane, every command of the case).
        tool.transcript = Transcript()
        tool.created = self.tool.created
        crasher = self._at(self.ctx, self.backend, lane_repo(self.ctx, number), tool)
        crasher.planned_at = self.repo
        crasher.checked = self.checked
        return crasher

    def _where(self) -> dict[str, Any]:
        where = {"env": self.tool.env.vars, "cwd": self.ctx.workdir, "repo": self.repo}
        databases = self.tool.databases
        if databases is not None:
            # a backend that runs the migration more than once puts the database back too
            where["restore_data"] = lambda: databases.copy(self.pristine, self.repo)
        return where

    def points(self) -> Sequence[CrashPoint]:
        timeout = self.ctx.target.timeout_s
        return self.backend.enumerate(self.args, timeout=timeout, **self._where())

    def crash(self, point: CrashPoint) -> str:
        """A fresh copy of the repo, migrated until killed at ``point``; returns the
        repo's dump before migrating."""
        from migration_harness.crash import moved

        before = self.before if self.before is not None else self._create()
        self.tool.copy_repo(self.pristine, self.repo)
        if self.planned_at is not None:
            point = moved(point, str(self.planned_at), str(self.repo))
        timeout = self.ctx.target.timeout_s
        result = self.backend.crash_at(point, self.args, timeout=timeout, **self._where())
        self.tool.transcript.append(result)
        clear_stale_lock(self.ctx, self.repo)
        return before


def _survive(ctx: Context, crasher: Crasher, point: CrashPoint) -> PointOutcome:
    from migration_harness.crash import CrashPointMismatch, CrashPointMissed

    tool, repo, target = crasher.tool, crasher.repo, ctx.target
    try:
        before = crasher.crash(point)
    except (CrashPointMissed, CrashPointMismatch) as exc:
        # A point this run's calls do not reproduce is left out, not a harness error.
        return PointOutcome(point, None, unreachable=str(exc).removeprefix(point.describe() + ": "))
    checked = crasher.checked
    try:
        crashed = checked.fingerprint(repo)
        version = checked.version("after the crash", crashed)
        if version is None:
            version = tool.version_of(repo, "after the crash: reading the version")
            if version not in target.known_versions:
                raise tool.fail(
                    f"after the crash the version is {tool.name(version)}, not one the tool knows"
                )
            tool.expect_content(repo, before, version, "after the crash")
            checked.passed("after the crash", crashed, version)
        tool.expect_ok(tool.migrate(repo, target.latest, version), "re-running after the crash")
        rerun = checked.fingerprint(repo)
        if checked.version("after the re-run", rerun) is None:
            tool.expect_version(repo, target.latest, "after the re-run")
            tool.expect_content(repo, before, target.latest, "after the re-run")
            checked.passed("after the re-run", rerun, target.latest)
    except ContractFailure as failure:
        return PointOutcome(point, failure.message, transcript=list(tool.transcript))
    return PointOutcome(point, None)


def clear_stale_lock(ctx: Context, repo: Path) -> None:
    """A tool that refuses stale locks (on_stale_lock = refuse) asks its user to remove the
    lock: do what that user would, so the re-run tests the data, not the lock again."""
    lock = ctx.target.lock
    if ctx.target.on_stale_lock != "refuse" or lock is None or lock.path is None:
        return
    ctx.tool.scratch.remove(ctx.tool.path(lock.path, repo), "remove the stale lock")
