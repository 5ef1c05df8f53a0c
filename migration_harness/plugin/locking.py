"""Fixtures: ``lock_holder`` (a foreign process holding a lock in a named style)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from migration_harness.locks import LockHolder, UnsupportedLockStyle, hold_lock


class LockHolderFactory:
    """``lock_holder(style, path, **kw)``: :func:`migration_harness.locks.hold_lock`, but an
    unsupported style skips the test with the reason, and every holder still
    alive at teardown is released (or killed)."""

    def __init__(self) -> None:
        self.holders: list[LockHolder] = []

    def __call__(self, style: str, path: Any = None, **kwargs: Any) -> LockHolder:
        try:
            holder = hold_lock(style, path, **kwargs)
        except UnsupportedLockStyle as exc:
            pytest.skip(str(exc))
        self.holders.append(holder)
        return holder

    def close(self) -> None:
        for holder in reversed(self.holders):
            holder.close()


@pytest.fixture
def lock_holder() -> Iterator[LockHolderFactory]:
    """Factory: ``lock_holder("posix", tmp_path / "repo.lock")`` returns a held
    :class:`~migration_harness.locks.LockHolder`; skips when the style cannot exist on this OS."""
    factory = LockHolderFactory()
    try:
        yield factory
    finally:
        factory.close()
