"""``migration-harness windows [OPTIONS] [--] ARGS...``: run in the Windows environment.

On Linux the first run provisions a cached Windows CPython under Wine (see
:mod:`migration_harness.windows`) with the installed migration-harness and the project
in the current directory; every run then executes ``python -m migration_harness ARGS``
(or, with ``--pytest``, ``python -m pytest ARGS``) there and exits with its status. On
Windows it runs the same command natively.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from migration_harness.cli import PROG, UsageError
from migration_harness.windows import (
    ProvisionError,
    RequirementsError,
    Sources,
    WineNotFound,
    windows_python,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "windows",
        help="run a migration-harness command (or pytest) under Windows CPython (Wine on Linux)",
        description=(
            "Run `migration-harness ARGS` in a Windows Python: natively on Windows, under "
            "Wine with the official embeddable CPython on Linux (provisioned once and "
            "cached). Example: migration-harness windows check --mutant open-handle-rename"
        ),
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where the Wine prefix and Windows Python are kept "
        "(default: $MIGRATION_HARNESS_WINDOWS_CACHE or ~/.cache/migration-harness/windows)",
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=Path("."),
        help="the project under test: its wheel and dependencies are installed when it has "
        "a pyproject.toml (default: the current directory)",
    )
    parser.add_argument(
        "--extras",
        default=None,
        help="comma-separated optional-dependency groups of the project to install "
        "(default: `test` if the project has it)",
    )
    parser.add_argument(
        "--with",
        dest="with_",
        action="append",
        default=[],
        metavar="REQUIREMENT",
        help="one more requirement to install, e.g. --with pytest-mock (repeatable)",
    )
    parser.add_argument("--pytest", action="store_true", help="run `python -m pytest ARGS` instead")
    parser.add_argument(
        "--provision-only", action="store_true", help="provision the environment and exit"
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the command")
    parser.set_defaults(func=run)


def command_args(args: argparse.Namespace) -> list[str]:
    """The argv for the Windows Python: ``-m migration_harness ...`` or ``-m pytest ...``."""
    rest = list(args.args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    module = "pytest" if args.pytest else "migration_harness"
    if not rest and not args.pytest:
        raise UsageError("missing command to run in Windows (e.g. `windows check`)")
    return ["-m", module, *rest]


def sources_from(args: argparse.Namespace) -> Sources:
    project: Path = args.project
    if not project.is_dir():
        raise UsageError(f"--project {project}: not a directory")
    extras = None
    if args.extras is not None:
        extras = tuple(e.strip() for e in args.extras.split(",") if e.strip())
    return Sources(project=project.resolve(), extras=extras, requirements=tuple(args.with_))


def run(args: argparse.Namespace) -> int:
    argv = [] if args.provision_only else command_args(args)
    sources = sources_from(args)
    try:
        python = windows_python(sources, cache_dir=args.cache_dir)
    except (WineNotFound, ProvisionError, RequirementsError) as exc:
        first, _, details = str(exc).partition("\n")
        print(f"{PROG} windows: error: {first}", file=sys.stderr)
        if details:
            print(details, file=sys.stderr)
        return 1
    if args.provision_only:
        return 0
    return python.run(argv)
