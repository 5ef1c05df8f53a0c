"""crash: kill the migrator at each crash point; no data may be lost, ever."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migration_harness.contract._failure import ContractFailure, ContractSkip
from migration_harness.contract._registry import Case, Context, contract, single, span

if TYPE_CHECKING:
    from migration_harness.crash import CrashBackend, CrashPoint


@dataclass
class PointOutcome:
    point: CrashPoint
    problem: str | None  # None: the repo survived this crash
    unreachable: str | None = None  # why the run could not be stopped at this point

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
    try:
        backend = pick_backend(
            name, hook_supported=spec.hook, max_points=spec.max_points, slices=spec.sweep_k
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
    crasher = Crasher.prepare(ctx, backend_for(ctx), ctx.repo)
    backend = crasher.backend
    before = tool.dump(ctx.repo, "before migrating")
    points = crasher.points()
    if not points:
        raise tool.fail(f"the {backend.name} backend found no crash points in a migration run")
    outcomes: list[PointOutcome] = []
    for point in points:
        ctx.progress(f"{len(outcomes)} of {len(points)} crash points ({backend.name})")
        outcomes.append(_survive(ctx, crasher, point, before))
        if outcomes[-1].problem is not None:
            break  # the first point that loses data is the answer; the rest would be noise
    if all(o.unreachable is not None for o in outcomes):
        raise ContractSkip(
            f"the {backend.name} backend could not stop the migration at any of its "
            f"{len(points)} crash points (its calls differ from run to run):\n"
            + "\n".join(o.line() for o in outcomes)
        )
    found = getattr(points, "sampled_from", None) or len(points)
    ctx.notes.append(_points_note(backend.name, outcomes, found))
    first = outcomes[-1]
    if first.problem is not None:
        lines = [o.line() for o in outcomes]
        lines += [f"  #{p.index:<3} {p.describe()}  -> not run" for p in points[len(outcomes) :]]
        raise ContractFailure(
            f"crash point {len(outcomes)} of {len(points)} ({backend.name} backend, "
            f"{found} found) broke the repo:\n  {first.point.describe()}\n\n"
            f"{first.problem}\n\nevery crash point:\n" + "\n".join(lines),
            tool.transcript,
        )


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

    @classmethod
    def prepare(cls, ctx: Context, backend: CrashBackend, repo: Path) -> Crasher:
        tool, target = ctx.tool, ctx.target
        tool.create(repo, target.oldest)
        # Not named "<repo>-...": beside a single-file repo that would be a companion.
        pristine = repo.with_name("pristine-" + repo.name)
        tool.scratch.copy_tree(repo, pristine, "keep a pristine copy of the repo at")
        args = tool.env.resolve(tool.migrate_args(repo, target.latest, target.oldest))
        return cls(ctx, backend, repo, pristine, args)

    def _where(self) -> dict[str, Any]:
        tool = self.ctx.tool
        return {"env": tool.env.vars, "cwd": self.ctx.workdir, "repo": self.repo}

    def points(self) -> Sequence[CrashPoint]:
        timeout = self.ctx.target.timeout_s
        return self.backend.enumerate(self.args, timeout=timeout, **self._where())

    def crash(self, point: CrashPoint) -> None:
        """A fresh copy of the repo, migrated until killed at ``point``."""
        self.ctx.tool.copy_repo(self.pristine, self.repo)
        timeout = self.ctx.target.timeout_s
        result = self.backend.crash_at(point, self.args, timeout=timeout, **self._where())
        self.ctx.tool.transcript.append(result)
        clear_stale_lock(self.ctx, self.repo)


def _survive(ctx: Context, crasher: Crasher, point: CrashPoint, before: str) -> PointOutcome:
    from migration_harness.crash import CrashPointMismatch, CrashPointMissed

    tool, repo, target = ctx.tool, crasher.repo, ctx.target
    try:
        crasher.crash(point)
    except (CrashPointMissed, CrashPointMismatch) as exc:
        # A point this run's calls do not reproduce is left out, not a harness error.
        return PointOutcome(point, None, unreachable=str(exc).removeprefix(point.describe() + ": "))
    try:
        version = tool.version_of(repo, "after the crash: reading the version")
        if version not in target.versions:
            raise tool.fail(f"after the crash the version is {version}, not one the tool knows")
        tool.expect_dump(repo, before, "after the crash")
        tool.expect_ok(tool.migrate(repo, target.latest, version), "re-running after the crash")
        tool.expect_version(repo, target.latest, "after the re-run")
        tool.expect_dump(repo, before, "after the re-run")
    except ContractFailure as failure:
        return PointOutcome(point, failure.message)
    return PointOutcome(point, None)


def clear_stale_lock(ctx: Context, repo: Path) -> None:
    """A tool that refuses stale locks (on_stale_lock = refuse) asks its user to remove the
    lock: do what that user would, so the re-run tests the data, not the lock again."""
    lock = ctx.target.lock
    if ctx.target.on_stale_lock != "refuse" or lock is None or lock.path is None:
        return
    ctx.tool.scratch.remove(ctx.tool.path(lock.path, repo), "remove the stale lock")
