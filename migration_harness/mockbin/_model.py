"""A built mock and the calls it logged."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migration_harness.mockbin import _runner
from migration_harness.mockbin._spec import validate_behaviour

__all__ = ["MockCall", "MockExecutable", "write_behaviour"]


@dataclass(frozen=True)
class MockCall:
    """One run of a mock, as logged by the mock itself."""

    argv: list[str]
    """The mock's name followed by the arguments it was given."""
    cwd: str
    env: dict[str, str]
    """The variables named by ``log_env`` (default: PATH) that were set."""
    pid: int
    start: float
    end: float
    exit_code: int

    @property
    def args(self) -> list[str]:
        """The arguments, without the program name."""
        return self.argv[1:]

    @classmethod
    def from_json(cls, line: str) -> MockCall:
        data = json.loads(line)
        return cls(
            argv=list(data["argv"]),
            cwd=str(data["cwd"]),
            env=dict(data["env"]),
            pid=int(data["pid"]),
            start=float(data["start"]),
            end=float(data["end"]),
            exit_code=int(data["exit_code"]),
        )


@dataclass(frozen=True)
class MockExecutable:
    """A mock built by :func:`migration_harness.mockbin.build_mock`.

    ``path`` is what to run: a script on POSIX, a real ``.exe`` on Windows.
    """

    name: str
    path: Path

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def spec_path(self) -> Path:
        """The behaviour, as JSON."""
        return self.directory / f"{self.name}{_runner.SPEC_SUFFIX}"

    @property
    def log_path(self) -> Path:
        """The call log: one JSON line per run."""
        return self.directory / f"{self.name}{_runner.LOG_SUFFIX}"

    @property
    def behaviour(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.spec_path.read_text(encoding="utf-8"))
        return data

    def calls(self) -> list[MockCall]:
        """Every run so far, in the order they ended."""
        try:
            text = self.log_path.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        return [MockCall.from_json(line) for line in text.splitlines() if line]

    def update(self, **behaviour: Any) -> None:
        """Replace the behaviour for the next runs (the call log is kept)."""
        write_behaviour(self.directory, self.name, validate_behaviour(self.name, behaviour))

    def clear_calls(self) -> None:
        self.log_path.unlink(missing_ok=True)

    def __fspath__(self) -> str:
        return str(self.path)


def write_behaviour(directory: Path, name: str, behaviour: Mapping[str, Any]) -> list[Path]:
    """Write the JSON and marshal copies (JSON first: the marshal copy must not be older)."""
    import marshal

    written = []
    for suffix, data in (
        (_runner.SPEC_SUFFIX, json.dumps(behaviour, indent=2, sort_keys=True).encode("utf-8")),
        (_runner.FAST_SPEC_SUFFIX, marshal.dumps(dict(behaviour))),
    ):
        target = directory / f"{name}{suffix}"
        _replace(target, data)
        written.append(target)
    return written


def _replace(target: Path, data: bytes) -> None:
    # A running mock may be reading the old file: never let it see half of one.
    temp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        temp.write_bytes(data)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
