"""External migration steps: ``refrepo-1-to-2`` and ``refrepo-2-to-3`` (kubo's hybrid model).

The older steps ship as separate executables (console scripts). The main tool
finds them on the PATH of *its own* environment and runs them as
``refrepo-1-to-2 -path=<repo> [-revert]``. They change data and config but take
no lock (the parent holds it) and write no version (the parent does, after).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from migration_harness.reference import hooks
from migration_harness.reference.errors import RefError
from migration_harness.reference.layout import Repo
from migration_harness.reference.mutants import active_mutant
from migration_harness.reference.steps import Ctx, apply_step

# Versions whose steps are external executables (the newer ones run in process).
EXTERNAL_UP_TO = 3


def is_external(frm: int, to: int) -> bool:
    return max(frm, to) <= EXTERNAL_UP_TO


def executable_name(frm: int, to: int) -> str:
    """The step's executable: named by the forward direction; a revert passes ``-revert``."""
    low, high = sorted((frm, to))
    return f"refrepo-{low}-to-{high}"


def find_step(name: str, environ: Mapping[str, str], *, mutant: str | None) -> str:
    """The step executable on the tool's own PATH (PATHEXT honoured on Windows)."""
    if mutant == "parent-path":
        # Mutant parent-path: where pip put our own scripts, not where the caller pointed us.
        import sysconfig

        search = sysconfig.get_path("scripts")
    else:
        search = environ.get("PATH", os.defpath)
    import shutil  # here: the step executables import this module too, and never search

    found = shutil.which(name, path=search)
    if found is None:
        raise RefError(f"external migration step {name} not found on PATH (searched: {search})")
    return found


def run_step(ctx: Ctx, executable: str, frm: int, to: int, environ: Mapping[str, str]) -> None:
    """Run one external step; carry on its checkpoint count; fail with its error line."""
    # Imported here: the step executables import this module too and start no process.
    import subprocess

    args = [executable, f"-path={os.path.abspath(ctx.repo.root)}"]
    if to < frm:
        args.append("-revert")
    env = dict(environ)
    env[hooks.BASE_ENV] = str(ctx.hooks.count)
    if ctx.hooks.is_suspended:
        env.pop(hooks.CRASH_ENV, None)
        env.pop(hooks.FAIL_ENV, None)
    proc = subprocess.run(args, env=env, capture_output=True, stdin=subprocess.DEVNULL, check=False)
    _relay_stdout(ctx, proc.stdout.decode("utf-8", "replace"))
    errors = _relay_stderr(proc.stderr.decode("utf-8", "replace"))
    if proc.returncode == hooks.CRASH_EXIT_CODE and ctx.hooks.crash_at is not None:
        # The step died at the requested crash point: the whole tool dies with it.
        os._exit(hooks.CRASH_EXIT_CODE)
    if proc.returncode != 0:
        name = Path(executable).name
        detail = f": {errors[-1]}" if errors else ""
        raise RefError(f"external step {name} failed (exit {proc.returncode}){detail}")


def _relay_stdout(ctx: Ctx, text: str) -> None:
    for line in text.splitlines():
        if line.startswith(hooks.REPORT_PREFIX):
            ctx.hooks.count = int(line[len(hooks.REPORT_PREFIX) :])
        else:
            print(line)


def _relay_stderr(text: str) -> list[str]:
    errors = []
    for line in text.splitlines():
        if line.startswith("error: "):
            errors.append(line[len("error: ") :])
        else:
            print(line, file=sys.stderr)
    return errors


# ---- the executables' entry points ----------------------------------------------------------


def _parse(prog: str, argv: Sequence[str]) -> tuple[str, bool]:
    """The repo and whether to revert: ``-path=REPO [-revert]`` as the parent passes it is
    read directly; anything else (``--help``, a typo) by argparse, whose import costs more
    than the rest of a step."""
    if argv and argv[0].startswith("-path=") and list(argv[1:]) in ([], ["-revert"]):
        return argv[0].removeprefix("-path="), len(argv) == 2
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=f"refrepo migration step {prog}")
    parser.add_argument("-path", "--path", dest="path", required=True, help="the repo directory")
    parser.add_argument("-revert", "--revert", action="store_true", help="migrate back down")
    args = parser.parse_args(argv)
    return args.path, args.revert


def step_main(low: int, high: int, argv: Sequence[str] | None = None) -> int:
    """Body of ``refrepo-{low}-to-{high}``: exit 0, 1 (error, rolled back) or 86 (crash hook)."""
    path, revert = _parse(executable_name(low, high), sys.argv[1:] if argv is None else argv)
    frm, to = (high, low) if revert else (low, high)
    try:
        ctx = Ctx(Repo(Path(path)), hooks.Checkpoints(os.environ), active_mutant(os.environ))
        if not ctx.repo.root.is_dir():
            raise RefError(f"repo directory {ctx.repo.root} does not exist")
        apply_step(ctx, frm, to)
    except RefError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if hooks.BASE_ENV in os.environ:
        print(f"{hooks.REPORT_PREFIX}{ctx.hooks.count}", flush=True)
    return 0


def step_1_to_2() -> int:
    """Console script ``refrepo-1-to-2``."""
    return step_main(1, 2)


def step_2_to_3() -> int:
    """Console script ``refrepo-2-to-3``."""
    return step_main(2, 3)
