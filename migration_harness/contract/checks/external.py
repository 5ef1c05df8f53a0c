"""external: steps run as separate executables are found on the tool's own PATH, in order."""

from __future__ import annotations

from pathlib import Path

from migration_harness.contract._failure import InstrumentFailed
from migration_harness.contract._registry import Case, Context, contract, lacks, single, span
from migration_harness.contract._tool import Tool
from migration_harness.mockbin import MockCall, MockExecutable, build_mock
from migration_harness.target import fill

# A spy logs its call when it ends: one that never started leaves no log.
NO_VERDICT = (
    "the spy failed to start (Wine does this now and then) or the tool failed by chance: "
    "no verdict on the tool; run the case again"
)


class StepSpies:
    """Spy executables, one per step name, first on the tool's PATH: each logs its call
    and then runs the real step found further down the PATH."""

    def __init__(self, tool: Tool, directory: Path, start: int, failing: str | None = None) -> None:
        tool.scratch.make_dirs(directory)
        target = tool.target
        assert target.external is not None
        self.names = [
            fill(target.external.name, tool.values(None, **{"from": v, "to": v + 1}))
            for v in range(start, target.latest)
        ]
        self.failing = failing
        self.mocks: dict[str, MockExecutable] = {}
        for name in self.names:
            behaviour: dict[str, object] = (
                {"exit_code": 1, "stderr": f"{name}: injected failure\n"}
                if name == failing
                else {"passthrough": True}
            )
            self.mocks[name] = build_mock(directory, name, behaviour)
        tool.env.prepend_path(str(directory))

    def calls(self) -> list[tuple[str, MockCall]]:
        every = [(name, call) for name, mock in self.mocks.items() for call in mock.calls()]
        return sorted(every, key=lambda item: item[1].start)

    def called_names(self) -> list[str]:
        return [name for name, _ in self.calls()]

    def first_silent(self, among: list[str] | None = None) -> str | None:
        """The first step (of ``among``, default all) whose spy logged no call, when every
        call a passing-through spy logged succeeded; None when a step itself failed (its
        spy logs the step's exit code: the tool's own) or every spy ran."""
        calls = self.calls()
        if any(call.exit_code != 0 and name != self.failing for name, call in calls):
            return None
        logged = {name for name, _ in calls}
        return next((name for name in among or self.names if name not in logged), None)

    def expect_each_once(self, tool: Tool, when: str, since: int = 0) -> None:
        """No step ran twice among the calls after the first ``since`` ones."""
        called = self.called_names()[since:]
        repeated = sorted({n for n in called if called.count(n) > 1})
        if repeated:
            raise tool.fail(f"{when}: steps ran more than once: {', '.join(repeated)}")


def spy_on_steps(tool: Tool, directory: Path, start: int) -> StepSpies:
    return StepSpies(tool, directory, start)


@contract(
    "external",
    "external step executables on the tool's own PATH run in order; a failing step stops the chain",
    single(span, lacks("external", "`external_migrations`")),
)
def external(ctx: Context, case: Case) -> None:
    tool, repo, target = ctx.tool, ctx.repo, ctx.target
    tool.create(repo, target.oldest)
    before = tool.dump(repo, "before migrating")
    spies = StepSpies(tool, ctx.workdir / "spies", target.oldest)
    _migrate_past_the_spies(ctx, spies, repo)
    tool.expect_version(repo, target.latest, "after migrating")
    tool.expect_content(repo, before, target.latest, "after migrating")
    called = spies.called_names()
    if not called:
        raise tool.fail(
            "none of the step executables on the tool's PATH ran "
            f"({', '.join(spies.names)}): it found its steps somewhere else "
            "(the parent's PATH, a fixed directory or a download)"
        )
    if called != spies.names[: len(called)]:
        raise tool.fail(
            f"steps ran out of order or skipped one: ran {called}, expected a prefix of "
            f"{spies.names}"
        )
    for name, call in spies.calls():
        if not any(str(repo) in arg for arg in call.argv[1:]):
            raise tool.fail(f"{name} was not told which repo to migrate: argv {call.argv[1:]}")
    _failing_step_stops_chain(ctx, called)


def _migrate_past_the_spies(ctx: Context, spies: StepSpies, repo: Path) -> None:
    """Migrate with the spies first on PATH. A spy logs its call when it ends, so one that
    Wine failed to start (it does, now and then) leaves no log and the tool reports its
    step failed: if the tool then migrates a fresh repo without the spies, the failure is
    not read as the tool's."""
    tool, target = ctx.tool, ctx.target
    result = tool.migrate(repo, target.latest, target.oldest)
    silent = None if result.ok else spies.first_silent()
    if silent is not None and _migrates_without_spies(ctx):
        raise InstrumentFailed(
            f"migrating with spies on PATH: exit {result.returncode} before the spy of the "
            f"step {silent} logged a call; without the spies the tool migrated a fresh repo\n"
            f"  {NO_VERDICT}",
            tool.transcript,
        )
    tool.expect_ok(result, "migrating with spies on PATH")


def _migrates_without_spies(ctx: Context) -> bool:
    target = ctx.target
    tool = Tool(target, ctx.workdir, env=None)
    tool.transcript = ctx.tool.transcript
    repo = ctx.workdir / "spyless-repo"  # "repo-...": a file repo's companion
    tool.create(repo, target.oldest)
    return tool.migrate(repo, target.latest, target.oldest).ok


def _failing_step_stops_chain(ctx: Context, called: list[str]) -> None:
    """Make the last external step fail: the repo must stay at that step's start version."""
    target = ctx.target
    tool = Tool(target, ctx.workdir, env=None)
    repo = ctx.workdir / "failing-step-repo"  # "repo-...": a file repo's companion
    failing = called[-1]
    last_good = target.oldest + len(called) - 1
    tool.transcript = ctx.tool.transcript
    tool.create(repo, target.oldest)
    before = tool.dump(repo, "before migrating")
    spies = StepSpies(tool, ctx.workdir / "spies-failing", target.oldest, failing=failing)
    result = tool.migrate(repo, target.latest, target.oldest)
    if result.ok:
        raise tool.fail(f"the step {failing} failed (exit 1) but the migration exited 0")
    silent = spies.first_silent(among=called)
    if silent is not None:
        raise InstrumentFailed(
            f"with {failing} made to fail, the migration stopped before the spy of the step "
            f"{silent} logged a call; the same migration went through it before\n"
            f"  {NO_VERDICT}",
            tool.transcript,
        )
    tool.expect_version(repo, last_good, f"after {failing} failed")
    tool.expect_content(repo, before, last_good, f"after {failing} failed")
    after_failure = spies.called_names()
    if after_failure != called:
        raise tool.fail(f"after {failing} failed the chain went on: ran {after_failure}")
