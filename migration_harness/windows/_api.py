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
from migration_harness.windows._wine import find_wine, wine_environment

DEFAULT_EXTRAS = ("test",)


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


def find_project_root(start: Path | None = None) -> Path:
    """The source checkout this package was imported from (it builds the Windows wheel)."""
    here = (start or Path(__file__)).resolve()
    for candidate in [here, *here.parents]:
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and (candidate / "migration_harness" / "__init__.py").is_file():
            return candidate
    raise FileNotFoundError(
        f"no source checkout of migration-harness above {here} (a directory with "
        "pyproject.toml and migration_harness/); pass the checkout's directory explicitly"
    )


def provision(
    project_root: Path,
    *,
    cache_dir: Path | None = None,
    extras: Sequence[str] = DEFAULT_EXTRAS,
    progress: Progress = _to_stderr,
    wine: str | None = None,
) -> WindowsPython:
    """Provision (or reuse) the cached Windows CPython under Wine; see migration_harness.windows."""
    launcher = wine or find_wine()
    layout = Layout(cache_dir or default_cache_dir())
    provision_into(layout, project_root, wine=launcher, extras=extras, progress=progress)
    return WindowsPython(
        python=layout.python_exe, launcher=(launcher,), env=wine_environment(layout.prefix)
    )


def windows_python(
    project_root: Path | None = None,
    *,
    cache_dir: Path | None = None,
    extras: Sequence[str] = DEFAULT_EXTRAS,
    progress: Progress = _to_stderr,
) -> WindowsPython:
    """The native interpreter on Windows; elsewhere the provisioned one under Wine."""
    if sys.platform == "win32":
        return native_python()
    root = project_root or find_project_root()
    return provision(root, cache_dir=cache_dir, extras=extras, progress=progress)
