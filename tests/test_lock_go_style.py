"""``go-lockedfile``: the lock Go's lockedfile takes on this OS (flock, LockFileEx), so one
spec for a Go tool holds the right kernel lock everywhere."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from migration_harness.locks import STYLES
from migration_harness.locks._base import LockBusy
from migration_harness.locks._styles import acquire, unsupported_reason

# The platform's own style that Go's lockedfile takes on it.
SAME_AS_GO = "windows" if sys.platform == "win32" else "flock"


def test_the_style_exists_on_every_platform() -> None:
    assert "go-lockedfile" in STYLES
    assert unsupported_reason("go-lockedfile") is None


@pytest.mark.parametrize(
    ("first", "second"), [("go-lockedfile", SAME_AS_GO), (SAME_AS_GO, "go-lockedfile")]
)
def test_it_excludes_the_platforms_own_style(tmp_path: Path, first: str, second: str) -> None:
    path = tmp_path / "repo.lock"
    held = acquire(first, path)
    try:
        with pytest.raises(LockBusy):
            acquire(second, path)
    finally:
        held.release()
    acquire(second, path).release()  # free again once released
