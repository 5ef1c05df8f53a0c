"""The contract as pytest items: ``contract::<id>[<case>]`` under one collector."""

from __future__ import annotations

import functools
import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from migration_harness.contract._failure import (
    CommandCannotStart,
    ContractFailure,
    ContractSkip,
    InstrumentFailed,
    harness_error,
    tool_fault,
)
from migration_harness.contract._registry import REGISTRY, Case, Context, Options
from migration_harness.contract._tool import Tool
from migration_harness.contract.created import CREATED_DIR, CreatedRepos
from migration_harness.names import plain_name
from migration_harness.target import Target

COLLECTOR_NAME = "contract"

# A case the harness could not run (not a broken promise) carries this user property, so
# its report says "error" even across pytest-xdist workers.
ERROR_PROPERTY = "migration_harness_error"
# A case's notes (Context.notes), as a JUnit property and in the JSON report's message.
NOTE_PROPERTY = "migration_harness_note"
# How long the tool's own commands ran in a case (seconds), as a JUnit property and in
# the JSON report's tool_seconds.
TOOL_SECONDS_PROPERTY = "migration_harness_tool_s"

# The scratch directories of the cases still running, by case name; what an interrupt
# leaves here is removed (or named) by whoever stops the run.
LIVE_SCRATCH = pytest.StashKey[dict[str, Path]]()
#: Where a case's progress goes: ``show(case name, text)``; `check`'s reporter sets it.
PROGRESS = pytest.StashKey[Callable[[str, str], None]]()


#: Contracts whose cases run for long (crash points, race rounds): a parallel run starts
#: them first, so that no worker picks one up last while the others sit idle.
LONG_CONTRACTS = ("crash", "concurrent")
#: And cases that wait out the tool's lock wait limit.
LONG_CASE_SUFFIX = "-past-wait]"
#: And, last of the long ones, a failure injected at each checkpoint of a step: two
#: commands a checkpoint, which under Wine made a step with many of them the second
#: longest case and, picked up last, the end of the run.
FAILURE_LOOPS = "backups"
_RANKS = (*LONG_CONTRACTS, LONG_CASE_SUFFIX, FAILURE_LOOPS)


def runs_long(case: Case) -> bool:
    return _length_rank(case) < len(_RANKS)


def _length_rank(case: Case) -> int:
    """0 for the longest kind of case (crash points), then race rounds, then waits out
    the lock limit, then failure loops; the rest last."""
    if case.contract in LONG_CONTRACTS:
        return LONG_CONTRACTS.index(case.contract)
    if case.name.endswith(LONG_CASE_SUFFIX):
        return _RANKS.index(LONG_CASE_SUFFIX)
    if case.contract == FAILURE_LOOPS:
        return _RANKS.index(FAILURE_LOOPS)
    return len(_RANKS)


def long_first(items: list[ContractTest], workers: int = 1) -> list[ContractTest]:
    """``items`` with the long-running cases first, longest kind first, each kind in its
    own order. With ``workers`` > 1 the long cases are dealt out, one to each worker's
    first share: pytest-xdist's worksteal scheduler starts by handing each worker an
    equal run of consecutive items, and two long cases in one run would wait on each
    other while another worker sits idle at the end."""
    ordered = sorted(items, key=lambda item: _length_rank(item.case))
    if workers < 2:
        return ordered
    long = [item for item in ordered if runs_long(item.case)]
    rest = iter(item for item in ordered if not runs_long(item.case))
    shares: list[list[ContractTest]] = [[] for _ in range(workers)]
    for number, item in enumerate(long):
        shares[number % workers].append(item)
    remaining = len(items)
    out: list[ContractTest] = []
    for index, share in enumerate(shares):
        size = remaining // (workers - index)  # as worksteal splits its first hand-out
        remaining -= size
        share.extend(itertools.islice(rest, max(0, size - len(share))))
        out.extend(share)
    out.extend(rest)
    return out


class ContractCollector(pytest.File):
    """Generates one item per case of every selected contract id."""

    target: Target
    options: Options
    ids: Sequence[str]
    keep_scratch: bool = False
    scratch_root: Path | None = None  # where the cases' scratch directories go

    def collect(self) -> Iterator[ContractTest]:
        for cid in self.ids:
            for case in REGISTRY[cid].cases(self.target):
                # The id as a string, so that pytest parses the [case] part as parameters
                # the way it does when it reads ids back from its cache (--lf, --ff).
                nodeid = f"{COLLECTOR_NAME}::{case.name}"
                yield ContractTest.from_parent(self, name=case.name, case=case, nodeid=nodeid)


class ContractTest(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.workdir: Path | None = None
        self.tool: Tool | None = None
        self.add_marker(pytest.mark.contract(case.contract))

    @property
    def collector(self) -> ContractCollector:
        assert isinstance(self.parent, ContractCollector)
        return self.parent

    def runtest(self) -> None:
        if self.case.skip:
            pytest.skip(self.case.skip)
        target = self.collector.target
        self.workdir = Path(
            tempfile.mkdtemp(
                prefix=f"mh-{plain_name(self.case.name)}-", dir=self.collector.scratch_root
            )
        )
        live = self.config.stash.setdefault(LIVE_SCRATCH, {})
        live[self.case.name] = self.workdir
        tool = self.tool = Tool(target, self.workdir)
        if self.collector.scratch_root is not None:
            tool.created = CreatedRepos(self.collector.scratch_root / CREATED_DIR)
        ctx = Context(target, tool, self.workdir, self.collector.options)
        show = self.config.stash.get(PROGRESS, None)
        if show is not None:
            ctx.progress = functools.partial(show, self.case.name)
        try:
            try:
                REGISTRY[self.case.contract].check(ctx, self.case)
            finally:
                self.user_properties.extend((NOTE_PROPERTY, note) for note in ctx.notes)
                seconds = round(ctx.tool.transcript.seconds, 3)
                self.user_properties.append((TOOL_SECONDS_PROPERTY, seconds))
        except ContractSkip as exc:
            self._remove_scratch()
            pytest.skip(str(exc))
        except ContractFailure:
            self._keep_scratch()
            raise
        except CommandCannotStart:
            self._remove_scratch()  # nothing ran, nothing to look at
            self.user_properties.append((ERROR_PROPERTY, True))
            raise
        except InstrumentFailed:
            self._keep_scratch()
            self.user_properties.append((ERROR_PROPERTY, True))
            raise
        except Exception as exc:
            self._keep_scratch()
            failure = tool_fault(exc, ctx.tool.transcript, self.workdir)
            if failure is not None:
                raise failure from exc
            self.user_properties.append((ERROR_PROPERTY, True))
            raise
        except (KeyboardInterrupt, SystemExit):
            # Interrupted: the scratch stays registered in LIVE_SCRATCH so that `check`
            # can remove it (or name it) once every process of the run is gone.
            if not self.collector.keep_scratch:
                shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        except BaseException:  # pytest's own outcomes, e.g. pytest-timeout's failure
            self._keep_scratch()
            raise
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        assert self.workdir is not None
        if self.tool is not None:
            self.tool.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.config.stash[LIVE_SCRATCH].pop(self.case.name, None)

    def _keep_scratch(self) -> None:
        """Kept on failure so the user can look at the repo the tool left behind."""
        self.config.stash[LIVE_SCRATCH].pop(self.case.name, None)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        exc = excinfo.value
        kept = ""
        if self.workdir is not None:
            state = "kept for inspection" if self.workdir.is_dir() else "removed by the tool"
            kept = f"\n\nscratch directory {state}: {self.workdir}"
        if isinstance(exc, ContractFailure):
            return f"{COLLECTOR_NAME}::{self.case.name} broken\n\n{exc.render()}{kept}"
        if isinstance(exc, CommandCannotStart):
            return f"{COLLECTOR_NAME}::{self.case.name} could not run\n{exc}"
        if isinstance(exc, InstrumentFailed):
            return f"{COLLECTOR_NAME}::{self.case.name} could not run\n\n{exc.render()}{kept}"
        if isinstance(exc, Exception) and not self.config.getoption("fulltrace", False):
            text = harness_error(exc)
            return f"{COLLECTOR_NAME}::{self.case.name} could not run\nharness error: {text}{kept}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{COLLECTOR_NAME}::{self.case.name}"


def make_collector(
    parent: pytest.Session,
    spec_path: Path,
    target: Target,
    ids: Iterable[str],
    options: Options,
    *,
    keep_scratch: bool = False,
    scratch_root: Path | None = None,
) -> ContractCollector:
    collector = ContractCollector.from_parent(
        parent, path=spec_path, name=COLLECTOR_NAME, nodeid=COLLECTOR_NAME
    )
    collector.target = target
    collector.ids = list(ids)
    collector.options = options
    collector.keep_scratch = keep_scratch
    collector.scratch_root = scratch_root
    return collector
