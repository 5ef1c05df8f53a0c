"""Build a mock executable: validate everything, then write behaviour and launcher."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from migration_harness.errors import MigrationHarnessError
from migration_harness.launchers import write_launcher
from migration_harness.mockbin import _runner
from migration_harness.mockbin._model import MockExecutable, write_behaviour
from migration_harness.mockbin._spec import validate_behaviour, validate_name

__all__ = ["MockBuildError", "build_mock", "open_mock", "stub_source"]

_RUNNER_DIR = str(Path(_runner.__file__).resolve().parent)
# -I: ignore PYTHON* variables and the user site; -S: skip site (the runner needs only
# builtin modules, and site costs a third of the start time).
INTERPRETER_ARGS = "-IS"


class MockBuildError(MigrationHarnessError, OSError):
    """The mock could not be written (for example, the directory is not writable)."""


def stub_source(runner_dir: str = _RUNNER_DIR) -> str:
    """The few lines each mock executes: load the cached runner and call it."""
    return (
        f"import sys\nsys.path.append({runner_dir!r})\nfrom _runner import main\nsys.exit(main())\n"
    )


def build_mock(
    directory: str | os.PathLike[str],
    name: str,
    behaviour: Mapping[str, Any] | None = None,
) -> MockExecutable:
    """Build the mock ``name`` in ``directory`` (created if missing) and return it.

    ``behaviour`` keys are listed in :data:`migration_harness.mockbin.BEHAVIOUR_KEYS`.
    Raises :class:`MockSpecError` for a bad name or behaviour and
    :class:`MockBuildError` when the directory cannot be written; in both cases
    no mock file has been written.
    """
    validate_name(name)
    spec = validate_behaviour(name, behaviour)
    target = Path(directory).absolute()
    _prepare_directory(target)
    written: list[Path] = []
    try:
        written += write_behaviour(target, name, spec)
        path = write_launcher(target, name, stub_source(), interpreter_args=INTERPRETER_ARGS)
    except OSError as exc:
        for leftover in written:
            leftover.unlink(missing_ok=True)
        raise MockBuildError(f"cannot write mock {name!r} into {target}: {_reason(exc)}") from exc
    return MockExecutable(name=name, path=path)


def _prepare_directory(target: Path) -> None:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MockBuildError(f"cannot create mock directory {target}: {_reason(exc)}") from exc
    if not os.access(target, os.W_OK | os.X_OK):
        raise MockBuildError(f"mock directory {target} is not writable")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def open_mock(path: str | os.PathLike[str]) -> MockExecutable:
    """The mock at ``path`` (``DIR/NAME`` or ``DIR/NAME.exe``), built earlier."""
    given = Path(path).absolute()
    name = given.name[:-4] if given.name.lower().endswith(".exe") else given.name
    spec = given.with_name(f"{name}{_runner.SPEC_SUFFIX}")
    if not spec.is_file():
        raise FileNotFoundError(f"no mock {name!r} in {given.parent} (missing {spec.name})")
    exe = given.with_name(f"{name}.exe")
    return MockExecutable(name=name, path=exe if exe.is_file() else given.with_name(name))
