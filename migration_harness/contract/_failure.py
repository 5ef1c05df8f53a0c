"""How a contract reports a broken promise: what ran, where, and what it printed."""

from __future__ import annotations

import difflib
import os
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from migration_harness.errors import MigrationHarnessError
from migration_harness.refusals import find_traceback

if TYPE_CHECKING:
    from migration_harness.proc import RunResult


class ContractFailure(MigrationHarnessError, AssertionError):
    """A contract item found the tool breaking its promise."""

    def __init__(self, message: str, transcript: Sequence[RunResult] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.transcript = list(transcript)

    def render(self) -> str:
        lines = [self.message]
        if self.transcript:
            lines += ["", "commands run (oldest first):"]
            for i, result in enumerate(self.transcript, 1):
                lines.append(f"  {i:>2}. {_one_line(result)}")
            lines += ["", "last command in detail:", self.transcript[-1].describe()]
        return "\n".join(lines)


class ContractSkip(MigrationHarnessError):
    """The contract cannot run here (a backend is missing): a skip with a reason."""


def _one_line(result: RunResult) -> str:
    outcome = (
        f"timed out after {result.timeout:g}s" if result.timed_out else f"exit {result.returncode}"
    )
    cmd = " ".join(_short(a) for a in result.args)
    return f"{cmd}  -> {outcome} in {result.duration:.2f}s"


def _short(arg: str, limit: int = 60) -> str:
    shown = arg if " " not in arg else repr(arg)
    return shown if len(shown) <= limit else "..." + shown[-(limit - 3) :]


def has_stack_trace(text: str) -> bool:
    """A user-facing error must be a message, never a Python/Go/Rust/Node/JVM stack trace."""
    return find_traceback(text) is not None


def dump_diff(
    expected: str, actual: str, *, what: str = "dump", expected_is: str = "before migration"
) -> str:
    diff = difflib.unified_diff(
        expected.splitlines(),
        actual.splitlines(),
        f"{what} {expected_is}",
        f"{what} after",
        lineterm="",
        n=2,
    )
    lines = list(diff)
    if len(lines) > 60:
        lines = [*lines[:60], f"... ({len(lines) - 60} more diff lines)"]
    return "\n".join(lines)


def excerpt(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " ..."


class CommandCannotStart(MigrationHarnessError):
    """A spec's command could not be started at all: the user's configuration, not the tool,
    is at fault (a missing executable, a NUL byte in an argument). One line."""


class InstrumentFailed(MigrationHarnessError):
    """A harness instrument the tool runs (a spy on its PATH) failed before it did its job:
    the case has no verdict on the tool, which must not read as the tool's fault."""

    def __init__(self, message: str, transcript: Sequence[RunResult] = ()) -> None:
        super().__init__(message)
        self.failure = ContractFailure(message, transcript)

    def render(self) -> str:
        return self.failure.render()


def cannot_start(
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    exc: OSError | ValueError,
    transcript: Sequence[RunResult] = (),
) -> Exception:
    """The error for a command ``run`` could not start: the tool's fault when it removed the
    directory the command runs in, else :class:`CommandCannotStart` naming what is wrong."""
    exe = args[0] if args else "(empty command)"
    if isinstance(exc, FileNotFoundError) and not cwd.is_dir():
        return ContractFailure(
            f"the harness cannot run {exe!r}: its working directory {cwd} is gone; the tool "
            "removed the case's scratch directory or its repo's parent",
            transcript,
        )
    if isinstance(exc, ValueError):
        holder = next((a for a in args if "\0" in a), "")
        return CommandCannotStart(f"cannot start {exe!r}: an argument holds a NUL byte: {holder!r}")
    if isinstance(exc, FileNotFoundError) and os.sep not in exe and "/" not in exe:
        searched = env.get("PATH", os.environ.get("PATH", ""))
        return CommandCannotStart(
            f"cannot start {exe!r}: not found on the PATH searched: {searched}"
        )
    reason = exc.strerror or str(exc)
    return CommandCannotStart(f"cannot start {exe!r}: {reason}")


def tool_fault(
    exc: BaseException, transcript: Sequence[RunResult], workdir: Path
) -> ContractFailure | None:
    """The contract failure to report when the tool made a harness step impossible, or None
    when ``exc`` is the harness's own fault."""
    from migration_harness.crash._hook import HookNotHonoured
    from migration_harness.crash._strace import CrashPointMismatch, CrashPointMissed

    if isinstance(exc, TimeoutError | HookNotHonoured | CrashPointMissed | CrashPointMismatch):
        return ContractFailure(f"the tool made a harness step impossible: {exc}", transcript)
    if (
        isinstance(exc, OSError)
        and transcript
        and (
            not workdir.is_dir()
            or _inside(exc.filename, workdir)
            or _inside(exc.filename2, workdir)
        )
    ):
        where = exc.filename or workdir
        return ContractFailure(
            f"the harness cannot go on: {exc.strerror or exc}: {where}\n"
            f"  the tool's commands removed or changed what the harness keeps in the case's "
            f"scratch directory {workdir} (its repo, the repo's parent)",
            transcript,
        )
    return None


def _inside(name: object, directory: Path) -> bool:
    if not isinstance(name, str | bytes | os.PathLike):
        return False
    path = Path(os.fsdecode(name))
    return path.is_absolute() and path.is_relative_to(directory)


# A harness error shows this many of its innermost harness frames; the rest is noise to a
# user and one flag away (pytest's --full-trace).
HARNESS_FRAMES = 10
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def harness_error(exc: BaseException) -> str:
    """A harness bug in a few lines: the exception and the harness's own frames."""
    message = str(exc).strip().splitlines() or [""]
    lines = [f"{type(exc).__name__}: {excerpt(message[0], 300)}"]
    lines += [f"  {excerpt(line, 300)}" for line in message[1:4]]
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if _inside(f.filename, _PACKAGE_DIR)
    ][-HARNESS_FRAMES:]
    if frames:
        lines.append("in migration-harness (innermost last):")
    for frame in frames:
        where = Path(frame.filename).relative_to(_PACKAGE_DIR.parent).as_posix()
        lines.append(f"  {where}:{frame.lineno} in {frame.name}")
        if frame.line:
            lines.append(f"    {excerpt(frame.line, 200)}")
    lines.append("a harness error, not the tool's fault; the full traceback: check -- --full-trace")
    return "\n".join(lines)
