"""A per-test directory of mocks: the ``mockbin`` fixture's factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migration_harness.mockbin._build import build_mock
from migration_harness.mockbin._model import MockCall, MockExecutable

__all__ = ["MockBin"]


class MockBin:
    """Builds mocks into one directory: ``mockbin("tool", exit_code=3)``.

    The directory is *not* put on any PATH; prepend ``mockbin.dir`` to the
    PATH of the environment the code under test runs in.
    """

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._mocks: dict[str, MockExecutable] = {}

    def __call__(self, name: str, **behaviour: Any) -> MockExecutable:
        mock = build_mock(self.dir, name, behaviour)
        self._mocks[name] = mock
        return mock

    def __getitem__(self, name: str) -> MockExecutable:
        return self._mocks[name]

    @property
    def mocks(self) -> dict[str, MockExecutable]:
        return dict(self._mocks)

    def calls(self) -> list[MockCall]:
        """The calls of every mock built here, in the order they started."""
        every = [call for mock in self._mocks.values() for call in mock.calls()]
        return sorted(every, key=lambda call: (call.start, call.end))
