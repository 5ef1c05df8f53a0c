"""backups, no-litter, tombstone: what a migration leaves on disk."""

from __future__ import annotations

from pathlib import Path

from migration_harness.contract._failure import ContractSkip
from migration_harness.contract._registry import Case, Context, contract, lacks, single, span
from migration_harness.contract._states import CheckedStates
from migration_harness.contract._tool import Tool
from migration_harness.files import SQLITE_LEFTOVERS, TEMP_PATTERNS, find_litter
from migration_harness.target import Target

# Injected failures tried per step before the contract decides the step has no more checkpoints.
MAX_FAILURE_POINTS = 50
# What a repo state passed once it was read after an injected failure (CheckedStates).
ROLLED_BACK = "after an injected failure"
# Temp files, and a SQLite journal or WAL still there after the tool exited.
LITTER_PATTERNS = (*TEMP_PATTERNS, *SQLITE_LEFTOVERS)
# Crash points (spread over a run) whose litter a re-run must cope with.
CRASH_LITTER_POINTS = 3


def _backup_cases(target: Target) -> list[Case]:
    skip = lacks("backups", "`backups`")(target)
    return [
        Case(f"{target.version_name(v)}-{target.version_name(v + 1)}", {"from": v}, skip=skip)
        for v in range(target.oldest, target.latest)
    ]


@contract(
    "backups",
    "declared backups exist and equal the pre-step bytes; an injected failure restores them",
    _backup_cases,
)
def backups(ctx: Context, case: Case) -> None:
    tool, repo, target = ctx.tool, ctx.repo, ctx.target
    frm = case.params["from"]
    to = frm + 1
    tool.create(repo, frm)
    pristine = ctx.workdir / "pristine"
    tool.keep_pristine(repo, pristine)
    originals = {b.of: tool.path(b.of, repo, **{"from": frm, "to": to}) for b in target.backups}
    before = {key: _read(path) for key, path in originals.items()}
    tool.expect_ok(tool.migrate(repo, to, frm), f"migrating {tool.name(frm)} -> {tool.name(to)}")
    for spec in target.backups:
        at = tool.path(spec.at, repo, **{"from": frm, "to": to})
        _expect_bytes(tool, at, before[spec.of], f"backup {at.name} after the step")
    if target.failure_hook:
        _failures_restore(ctx, pristine, frm, before)


def _failures_restore(
    ctx: Context, pristine: Path, frm: int, before: dict[str, bytes | None]
) -> None:
    from migration_harness.crash import FAIL_ENV

    tool, repo, target = ctx.tool, ctx.repo, ctx.target
    to = frm + 1
    checked = CheckedStates(enabled=tool.databases is None)
    for point in range(1, MAX_FAILURE_POINTS + 1):
        tool.copy_repo(pristine, repo)
        result = tool.migrate(repo, to, frm, env={FAIL_ENV: str(point)})
        if result.ok:
            # past the step's last checkpoint: every failure point was checked
            note = f"{point - 1} failure points"
            if checked.reused:
                note += f"; {checked.reused} repeated repo states not read again"
            ctx.notes.append(note)
            return
        when = f"after an injected failure at checkpoint {point} ({FAIL_ENV}={point})"
        if result.timed_out:
            raise tool.fail(f"{when}: the tool hung")
        failed = checked.fingerprint(repo)
        if checked.version(ROLLED_BACK, failed) is None:
            tool.expect_version(repo, frm, when)
            checked.passed(ROLLED_BACK, failed, frm)
        for spec in target.backups:
            original = tool.path(spec.of, repo, **{"from": frm, "to": to})
            _expect_bytes(tool, original, before[spec.of], f"{original.name} {when}")
    raise tool.fail(
        f"the step {tool.name(frm)} -> {tool.name(to)} still failed with"
        f" {FAIL_ENV}={MAX_FAILURE_POINTS}"
    )


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _expect_bytes(tool: Tool, path: Path, expected: bytes | None, what: str) -> None:
    actual = _read(path)
    if actual is None:
        raise tool.fail(f"{what}: {path} is missing")
    if expected is not None and actual != expected:
        raise tool.fail(
            f"{what}: {path} differs from the original bytes "
            f"({len(actual)} bytes, expected {len(expected)})"
        )


@contract(
    "no-litter",
    "no temp files remain after a migration; litter from a crash does not break a re-run",
    single(span),
)
def no_litter(ctx: Context, case: Case) -> None:
    tool, repo, target = ctx.tool, ctx.repo, ctx.target
    tool.create(repo, target.oldest)
    tool.expect_ok(tool.migrate(repo, target.latest, target.oldest), "migrating to latest")
    litter = find_litter(repo, LITTER_PATTERNS, ignore=tool.relative_ignores(repo))
    if litter:
        raise tool.fail("temp files left behind after a successful migration: " + ", ".join(litter))
    _crash_litter_does_not_break_rerun(ctx)


def _crash_litter_does_not_break_rerun(ctx: Context) -> None:
    """Kill a few migrations part-way (crash points spread over the run); whatever they
    leave behind must not stop the next run from reaching latest."""
    from migration_harness.contract.checks.crash import Crasher, backend_for
    from migration_harness.crash import sample_evenly

    try:
        backend = backend_for(ctx)
    except ContractSkip:
        return  # no crash backend here: the crash contract reports why
    tool, target = ctx.tool, ctx.target
    crasher = Crasher.prepare(ctx, backend, ctx.workdir / "crash-repo")
    repo = crasher.repo
    for point in sample_evenly(list(crasher.points()), CRASH_LITTER_POINTS):
        crasher.crash(point)
        version = tool.version_of(repo, f"after a crash at {point.describe()}")
        tool.expect_ok(
            tool.migrate(repo, target.latest, version),
            f"re-running over what a crash at {point.describe()} left",
        )


def _tombstone_missing(target: Target) -> str | None:
    return lacks("tombstone", "`tombstone`")(target)


@contract(
    "tombstone",
    "after migration the old store refuses to open; deleting the new store allows migrating again",
    single(span, _tombstone_missing),
)
def tombstone(ctx: Context, case: Case) -> None:
    tool, repo, target = ctx.tool, ctx.repo, ctx.target
    spec = target.tombstone
    assert spec is not None
    tool.create(repo, target.oldest)
    before = tool.dump(repo, "before migrating")
    tool.expect_ok(tool.migrate(repo, target.latest, target.oldest), "migrating to latest")
    old = tool.path(spec.old, repo)
    result = tool.run(tool.command(spec.open_old, repo))
    tool.expect_refusal(
        result,
        f"opening the old store {old.name} with the old backend",
        "the old store must be tombstoned",
        spec.message,
    )
    if spec.new is None:
        return
    new = tool.path(spec.new, repo)
    tool.scratch.remove(new, "delete the new store")
    result = tool.migrate(repo, target.latest, target.latest)
    tool.expect_ok(result, f"migrating again after deleting the new store {new.name}")
    tool.expect_version(repo, target.latest, "after migrating again")
    tool.expect_content(repo, before, target.latest, "after migrating again")
