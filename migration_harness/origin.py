"""Where this harness comes from: the project's home repository and the commit it was built from.

``HOME`` is the one place that names the project's GitHub repository; the scaffold, the
install requirements and the README's examples all derive from it (a test checks that no
other file spells it differently). The commit is looked up only when asked for
(``--version``, ``init``): importing the package never runs git.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from migration_harness import __version__

#: The project's GitHub repository, ``owner/name``. Change it here and nowhere else.
HOME = "migration-harness/migration-harness"
DIST_NAME = "migration-harness"
REUSABLE_WORKFLOW = ".github/workflows/contract.yml"

# The bound on one `git` call; it reads local files only.
GIT_TIMEOUT_S = 10
_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def home_url() -> str:
    return f"https://github.com/{HOME}"


def git_requirement(commit: str) -> str:
    """The pip requirement installing the harness from its repository at ``commit``."""
    return f"{DIST_NAME} @ git+{home_url()}@{commit}"


def index_requirement(version: str = __version__) -> str:
    """The pip requirement installing a release from the package index."""
    return f"{DIST_NAME}=={version}"


def workflow_ref(ref: str) -> str:
    """A caller's ``uses:`` value: the reusable workflow at ``ref`` (a commit or a tag)."""
    return f"{HOME}/{REUSABLE_WORKFLOW}@{ref}"


@dataclass(frozen=True)
class Origin:
    """The commit this copy of the harness was built from, when known."""

    commit: str | None
    dirty: bool = False

    def describe(self) -> str:
        """``0.1.0``, or ``0.1.0 (commit <sha>)`` for a copy from the repository."""
        if self.commit is None:
            return __version__
        extra = ", with uncommitted changes" if self.dirty else ""
        return f"{__version__} (commit {self.commit}{extra})"


def find_origin() -> Origin:
    """A checkout's HEAD (``git``), else the commit pip recorded for a git install."""
    if (_CHECKOUT_ROOT / ".git").exists():
        head = _git("rev-parse", "HEAD")
        if head is not None:
            status = _git("status", "--porcelain", "--untracked-files=no")
            return Origin(head, dirty=bool(status))
    return Origin(_recorded_commit())


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(_CHECKOUT_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git on PATH: the version alone is still right
    return done.stdout.strip() if done.returncode == 0 else None


def _recorded_commit() -> str | None:
    # pip writes direct_url.json (PEP 610) for an install from a URL; for a git URL it
    # holds the commit it checked out. A wheel from the package index has none.
    try:
        text = metadata.distribution(DIST_NAME).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        commit = json.loads(text).get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None
    return commit if isinstance(commit, str) else None
