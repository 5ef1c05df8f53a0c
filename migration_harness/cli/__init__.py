"""The ``migration-harness`` command line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``; the module sets ``func`` on its parser, a callable
taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from migration_harness.errors import MigrationHarnessError

PROG = "migration-harness"

# Subcommand modules, in the order `--help` lists them.
SUBCOMMANDS: tuple[str, ...] = ("check", "init", "mock", "scripts", "summary", "windows")


class UsageError(MigrationHarnessError):
    """Bad input from the user: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse prints the whole usage block on error; users asked for one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _VersionAction(argparse.Action):
    """``--version``: the release, plus the commit for a copy from the repository. The
    commit is looked up here, only when asked for, so building the parser runs no git."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from migration_harness.origin import find_origin

        print(f"{PROG} {find_origin().describe()}")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Test on-disk data migrations the way they really fail: on Windows, under "
            "concurrency, after a crash, with a daemon holding the repo."
        ),
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"migration_harness.cli.{name}")
        module.register(subparsers)
    return parser


def _tolerant_std_streams() -> None:
    """Tool output quoted in reports may hold any character; a Windows pipe or console
    encodes with its code page (cp1252) and would raise on the first one it lacks."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_std_streams()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        choices = ", ".join(SUBCOMMANDS) or "none yet"
        parser.error(f"missing command (choose from: {choices})")
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
