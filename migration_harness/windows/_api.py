"""One API for "a Windows Python with this project installed": native or under Wine."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from migration_harness.windows._provision import Layout, Progress, default_cache_dir, provision_into
from migration_harness.windows._pump import run_piped
from migration_harness.windows._sources import Sources
from migration_harness.windows._wine import find_wine, wine_environment


def _to_stderr(line: str) -> None:
    print(f"migration-harness windows: {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class WindowsPython:
    """A Windows CPython: ``launcher`` is ``("wine",)`` on Linux and empty on Windows."""

    python: Path
    launcher: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self, args: Sequence[str]) -> list[str]:
        """The full command line that runs ``python args`` on Windows."""
        return [*self.launcher, str(self.python), *args]

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path | str | None = None,
        timeout: float | None = None,
        stdout: BinaryIO | None = None,
        stderr: BinaryIO | None = None,
    ) -> int:
        """Run ``python args``, copying its output through; returns its exit status."""
        return run_piped(
            self.command(args),
            env=self.env,
            cwd=cwd,
            timeout=timeout,
            stdout=stdout,
            stderr=stderr,
        )


def native_python() -> WindowsPython:
    """The running interpreter (on Windows: the native leg)."""
    return WindowsPython(python=Path(sys.executable), env=dict(os.environ))


def provision(
    sources: Sources | None = None,
    *,
    cache_dir: Path | None = None,
    progress: Progress = _to_stderr,
    wine: str | None = None,
) -> WindowsPython:
    """Provision (or reuse) the cached Windows CPython under Wine with the running
    migration-harness and, if ``sources`` names one, the project under test."""
    launcher = wine or find_wine()
    layout = Layout(cache_dir or default_cache_dir())
    provision_into(layout, sources or Sources(), wine=launcher, progress=progress)
    return WindowsPython(
        python=layout.python_exe, launcher=(launcher,), env=wine_environment(layout.prefix)
    )


def windows_python(
    sources: Sources | None = None,
    *,
    cache_dir: Path | None = None,
    progress: Progress = _to_stderr,
) -> WindowsPython:
    """The native interpreter on Windows; elsewhere the provisioned one under Wine."""
    if sys.platform == "win32":
        return native_python()
    return provision(sources, cache_dir=cache_dir, progress=progress)
