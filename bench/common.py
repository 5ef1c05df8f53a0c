"""What every measurement gets: a scratch directory, the interpreter, the run sizes."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Measured", "Settings", "check_fails", "reference_steps_dir", "scripts_env"]


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


@functools.cache
def reference_steps_dir() -> str:
    """The reference tool's external steps (``refrepo-1-to-2``, ...) as commands, made once
    per process from its spec's ``console_scripts`` as ``check`` makes them for a case
    (nothing installs them on PATH); removed when the process exits."""
    from migration_harness.launchers import write_console_scripts
    from migration_harness.spec import load_reference_target

    made = Path(tempfile.mkdtemp(prefix="refrepo-steps-"))
    atexit.register(shutil.rmtree, made, ignore_errors=True)
    write_console_scripts(made, load_reference_target().console_scripts)
    return str(made)


def scripts_env() -> dict[str, str]:
    """A copy of this environment with the reference tool's steps first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([reference_steps_dir(), env.get("PATH", os.defpath)])
    return env


CAUGHT, NOT_CAUGHT = 1, 0


def check_fails(settings: Settings, args: list[str], timeout: float | None = None) -> bool:
    """Run ``migration-harness check ARGS`` in the bench's scratch directory: True when
    it failed the tool (exit 1), False when it passed; anything else raises."""
    command = [settings.python, "-m", "migration_harness", "check", *args]
    done = subprocess.run(
        command,
        cwd=settings.workdir,
        env=scripts_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if done.returncode not in (CAUGHT, NOT_CAUGHT):
        tail = (done.stdout + done.stderr)[-2000:]
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{tail}")
    return done.returncode == CAUGHT
