"""Fixtures: ``lock_holder`` (a foreign process holding a lock in a named style)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from migration_harness.fixtures import LockHolderFactory


@pytest.fixture
def mh_lock_holder() -> Iterator[LockHolderFactory]:
    """The plugin's ``lock_holder``, under a name no project's own fixture takes."""
    from migration_harness.fixtures import LockHolderFactory

    factory = LockHolderFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def lock_holder(mh_lock_holder: LockHolderFactory) -> LockHolderFactory:
    """Factory: ``lock_holder("posix", tmp_path / "repo.lock")`` returns a held
    :class:`~migration_harness.locks.LockHolder`; skips when the style cannot exist on this OS.
    Also reachable as ``mh_lock_holder``."""
    return mh_lock_holder
