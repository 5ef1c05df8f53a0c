"""What every measurement gets: a scratch directory, the interpreter, the run sizes."""

from __future__ import annotations

import os
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Measured", "Settings", "scripts_env"]


@dataclass(frozen=True)
class Settings:
    """Run sizes. ``quick`` shrinks repeats and skips the minutes-long suite timing."""

    workdir: Path
    quick: bool = False
    python: str = sys.executable

    def runs(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass
class Measured:
    """Figures (results.json keys) and a note per figure that needs explaining."""

    values: dict[str, float | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: Measured) -> None:
        self.values.update(other.values)
        self.notes.update(other.notes)
        self.skipped.update(other.skipped)
        self.extra.update(other.extra)


def scripts_env() -> dict[str, str]:
    """A copy of this environment with the interpreter's scripts directory first on PATH.

    The reference tool finds its external steps (``refrepo-1-to-2``) on PATH.
    """
    env = dict(os.environ)
    scripts = sysconfig.get_path("scripts")
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", os.defpath)])
    return env
