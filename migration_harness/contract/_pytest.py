"""The contract as pytest items: ``contract::<id>[<case>]`` under one collector."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from migration_harness.contract._failure import ContractFailure, ContractSkip
from migration_harness.contract._registry import REGISTRY, Case, Context, Options
from migration_harness.contract._tool import Tool
from migration_harness.names import safe_name
from migration_harness.target import Target

COLLECTOR_NAME = "contract"


class ContractCollector(pytest.File):
    """Generates one item per case of every selected contract id."""

    target: Target
    options: Options
    ids: Sequence[str]

    def collect(self) -> Iterator[ContractTest]:
        for cid in self.ids:
            for case in REGISTRY[cid].cases(self.target):
                yield ContractTest.from_parent(self, name=case.name, case=case)


class ContractTest(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.workdir: Path | None = None
        self.add_marker(pytest.mark.contract(case.contract))

    @property
    def collector(self) -> ContractCollector:
        assert isinstance(self.parent, ContractCollector)
        return self.parent

    def runtest(self) -> None:
        if self.case.skip:
            pytest.skip(self.case.skip)
        target = self.collector.target
        self.workdir = Path(tempfile.mkdtemp(prefix=f"mh-{safe_name(self.case.name)}-"))
        ctx = Context(target, Tool(target, self.workdir), self.workdir, self.collector.options)
        try:
            REGISTRY[self.case.contract].check(ctx, self.case)
        except ContractSkip as exc:
            shutil.rmtree(self.workdir, ignore_errors=True)
            pytest.skip(str(exc))
        # Kept on failure so the user can look at the repo the tool left behind.
        shutil.rmtree(self.workdir, ignore_errors=True)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if isinstance(excinfo.value, ContractFailure):
            text = f"contract::{self.case.name} broken\n\n{excinfo.value.render()}"
            if self.workdir is not None:
                text += f"\n\nscratch directory kept for inspection: {self.workdir}"
            return text
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{COLLECTOR_NAME}::{self.case.name}"


def make_collector(
    parent: pytest.Session, spec_path: Path, target: Target, ids: Iterable[str], options: Options
) -> ContractCollector:
    collector = ContractCollector.from_parent(
        parent, path=spec_path, name=COLLECTOR_NAME, nodeid=COLLECTOR_NAME
    )
    collector.target = target
    collector.ids = list(ids)
    collector.options = options
    return collector
