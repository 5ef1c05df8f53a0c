"""The contract items: each has an id, a summary, cases derived from the target, and a check."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migration_harness.contract._tool import Tool
from migration_harness.scratch import OutsideScratch
from migration_harness.target import Target


@dataclass(frozen=True)
class Case:
    """One test of one contract item, e.g. ``forward[1-4]``; ``skip`` says why it cannot run."""

    label: str
    params: dict[str, Any] = field(default_factory=dict)  # versions, and names of things
    skip: str | None = None
    contract: str = ""

    @property
    def name(self) -> str:
        return f"{self.contract}[{self.label}]"


@dataclass(frozen=True)
class Options:
    """Run-time choices that are not part of the target (command-line flags)."""

    crash_backend: str | None = None
    crash_jobs: int | None = None  # lanes of crash points; None: the spec's, else two per CPU


@dataclass
class Context:
    target: Target
    tool: Tool
    workdir: Path
    options: Options
    notes: list[str] = field(default_factory=list)
    """What a passing case should still say (e.g. which crash backend ran, how many points)."""
    progress: Callable[[str], None] = field(default=lambda text: None)
    """Where a long case says how far it got (e.g. "40 of 112 crash points"); `check`
    shows it, elsewhere it goes nowhere."""

    @property
    def repo(self) -> Path:
        return self.workdir / "repo"


CasesFn = Callable[[Target], list[Case]]
CheckFn = Callable[[Context, Case], None]


@dataclass(frozen=True)
class ContractItem:
    id: str
    summary: str
    cases: CasesFn
    check: CheckFn


REGISTRY: dict[str, ContractItem] = {}


def contract(id: str, summary: str, cases: CasesFn) -> Callable[[CheckFn], CheckFn]:
    """Register a check under ``id``; its cases carry the id."""

    def with_id(target: Target) -> list[Case]:
        return [dataclasses.replace(case, contract=id) for case in cases(target)]

    def register(check: CheckFn) -> CheckFn:
        REGISTRY[id] = ContractItem(id, summary, with_id, _confined(check))
        return check

    return register


def _confined(check: CheckFn) -> CheckFn:
    """A path the tool turned into a way out of the scratch directory fails the case
    (the tool's doing), with the commands that ran, instead of a traceback."""

    def run(ctx: Context, case: Case) -> None:
        try:
            check(ctx, case)
        except OutsideScratch as exc:
            raise ctx.tool.fail(str(exc)) from None

    return run


def single(
    label: Callable[[Target], str], missing: Callable[[Target], str | None] = lambda t: None
) -> CasesFn:
    """One case, skipped with the reason ``missing(target)`` returns, if any."""
    return lambda target: [Case(label(target), skip=missing(target))]


def span(target: Target) -> str:
    return f"{target.version_name(target.oldest)}-{target.version_name(target.latest)}"


def lacks(attr: str, what: str) -> Callable[[Target], str | None]:
    """A skip reason when the target does not declare ``attr``."""

    def reason(target: Target) -> str | None:
        if getattr(target, attr) in (None, (), ""):
            return f"the target declares no {what}"
        return None

    return reason
