"""forward, idempotent, revert, ahead, hostile-paths: the promises of a single migrator."""

from __future__ import annotations

import re
from pathlib import Path

from migration_harness.contract._registry import Case, Context, contract, lacks, single
from migration_harness.target import Target

# Directory names a careless tool mangles, one case per kind so that a failure names
# the character. Every one is legal on Linux, macOS and Windows; each is what URL
# parsers (%, #, ?-less query parts), glob expansion ([ ]), shells (& ; $ ' !) and
# format strings ({ }) read as syntax. "long" pads the repo path to LONG_PATH
# characters, near Windows' 260-character limit (MAX_PATH), leaving room for the
# files inside the repo.
HOSTILE_DIRS: dict[str, str] = {
    "spaces": "dir with spaces",
    "non-ascii": "ünïcödé-目录-ß",
    "percent": "100%-%41%2e",
    "brackets": "[brackets]",
    "hash": "hash#1",
    "ampersand": "a&b",
    "quote": "it's",
    "semicolon": "a;b",
    "dollar": "$HOME",
    "equals": "k=v",
    "comma": "a,b",
    "plus": "a+b",
    "at": "user@host",
    "bang": "bang!",
    "braces": "{repo}",
    "leading-dash": "-dash",
    "long": "",
}
LONG_PATH = 200


def _forward_cases(target: Target) -> list[Case]:
    latest = target.version_name(target.latest)
    return [
        Case(f"{target.version_name(v)}-{latest}", {"from": v})
        for v in range(target.oldest, target.latest)
    ]


@contract(
    "forward",
    "every older version migrates to latest with its logical content kept",
    _forward_cases,
)
def forward(ctx: Context, case: Case) -> None:
    tool, repo, latest = ctx.tool, ctx.repo, ctx.target.latest
    tool.create(repo, case.params["from"])
    before = tool.dump(repo, "before migrating")
    tool.expect_ok(
        tool.migrate(repo, latest, case.params["from"]), f"migrating to {tool.name(latest)}"
    )
    tool.expect_version(repo, latest, "after migrating")
    tool.expect_content(repo, before, latest, "after migrating")


@contract(
    "idempotent",
    "migrating a repo already at latest exits 0 and changes nothing",
    single(lambda t: f"{t.version_name(t.latest)}-{t.version_name(t.latest)}"),
)
def idempotent(ctx: Context, case: Case) -> None:
    tool, repo, target = ctx.tool, ctx.repo, ctx.target
    tool.create(repo, target.oldest)
    tool.expect_ok(tool.migrate(repo, target.latest, target.oldest), "first migration")
    ignore = tool.relative_ignores(repo)
    before_tree = tool.snapshot(repo, ignore)
    before_dump = tool.dump(repo, "after the first migration")
    result = tool.migrate(repo, target.latest, target.latest)
    tool.expect_ok(result, "second migration, already at latest")
    if target.idempotent == "dump":
        tool.expect_dump(repo, before_dump, "after the second migration")
        return
    diff = before_tree.diff(tool.snapshot(repo, ignore))
    if diff:
        raise tool.fail(
            "the second migration changed the repo (bytes; ignored: "
            f"{', '.join(ignore) or 'nothing'}):\n{diff}"
        )


def _revert_cases(target: Target) -> list[Case]:
    skip = lacks("revert", "`revert` command")(target)
    return [
        Case(f"{target.version_name(target.latest)}-{target.version_name(v)}", {"to": v}, skip=skip)
        for v in range(target.oldest, target.latest)
    ]


@contract(
    "revert",
    "latest reverts to each older version and migrates forward again, content kept",
    _revert_cases,
)
def revert(ctx: Context, case: Case) -> None:
    tool, repo, latest, to = ctx.tool, ctx.repo, ctx.target.latest, case.params["to"]
    tool.create(repo, latest)
    before = tool.dump(repo, "before reverting")
    steps = f"{tool.name(latest)} -> {tool.name(to)}"
    tool.expect_ok(tool.revert(repo, to, latest), f"reverting {steps}")
    tool.expect_version(repo, to, "after reverting")
    tool.expect_content(repo, before, to, "after reverting")
    steps = f"{tool.name(to)} -> {tool.name(latest)}"
    tool.expect_ok(tool.migrate(repo, latest, to), f"migrating {steps} again")
    tool.expect_version(repo, latest, "after migrating forward again")
    tool.expect_content(repo, before, latest, "after migrating forward again")


def _ahead_missing(target: Target) -> str | None:
    if target.stamp is None and target.version_file is None:
        return "the target declares neither a `stamp` command nor a `version_file`"
    return None


@contract(
    "ahead",
    "a repo newer than latest is refused (or left alone, compat); never downgraded",
    single(lambda t: t.version_name(t.future), _ahead_missing),
)
def ahead(ctx: Context, case: Case) -> None:
    tool, repo, target = ctx.tool, ctx.repo, ctx.target
    future = target.future
    tool.create(repo, target.latest)
    tool.stamp(repo, future)
    ignore = tool.relative_ignores(repo)
    before = tool.snapshot(repo, ignore)
    message = target.ahead_message.replace("{version}", re.escape(tool.name(future)))
    for attempt in ("first run", "second run (no crash loop)"):
        result = tool.migrate(repo, target.latest, future)
        doing = f"{attempt} on a repo at version {tool.name(future)}"
        if target.on_ahead == "refuse":
            tool.expect_refusal(result, doing, f"must name version {tool.name(future)}", message)
        else:
            tool.expect_ok(result, doing)
        diff = before.diff(tool.snapshot(repo, ignore))
        if diff:
            raise tool.fail(f"{doing}: the repo was changed (downgraded or corrupted):\n{diff}")
    tool.expect_version(repo, future, "after the refused runs")


def _hostile_cases(target: Target) -> list[Case]:
    return [Case(kind, {"dir": name}) for kind, name in HOSTILE_DIRS.items()]


def _hostile_repo(ctx: Context, case: Case) -> Path:
    name: str = case.params["dir"]
    if not name:  # "long": pad the whole repo path to LONG_PATH characters
        room = LONG_PATH - len(str(ctx.workdir / "repo")) - 1
        name = "long-" + "x" * max(room - len("long-"), 1)
    return ctx.workdir / name / "repo"


@contract(
    "hostile-paths",
    "a repo under a path holding a character tools mangle (one case per kind) still migrates",
    _hostile_cases,
)
def hostile_paths(ctx: Context, case: Case) -> None:
    tool, target = ctx.tool, ctx.target
    repo = _hostile_repo(ctx, case)
    tool.create(repo, target.oldest, fresh=True)  # the tool itself at the hostile path
    before = tool.dump(repo, "before migrating")
    tool.expect_ok(tool.migrate(repo, target.latest, target.oldest), "migrating to latest")
    tool.expect_version(repo, target.latest, "after migrating")
    tool.expect_content(repo, before, target.latest, "after migrating")
