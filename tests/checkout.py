"""The git checkout the tests run from, if any: its HEAD, read with git itself (not with
the harness's own lookup, which some tests check against it)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests import sub

GIT_TIMEOUT_S = 60


def git_head(root: Path) -> str | None:
    """``root``'s HEAD commit, or None without git or outside a checkout."""
    if shutil.which("git") is None or not (root / ".git").exists():
        return None
    done = sub.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None
