"""The reference tool's full command line, with argparse: every command, ``--help`` and
usage errors (exit status 2).

``cli`` reads the plain ``version REPO`` and ``dump REPO`` itself and comes here for
everything else: argparse, with the modules it pulls in for help and messages, costs
more to import than the rest of those two commands.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace
from typing import NoReturn

PROG = "refrepo"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="The migration-harness reference migration tool.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text)

    p = add("init", "create a repo with sample data at a version")
    p.add_argument("repo", type=Path)
    p.add_argument("--version", type=int, required=True, dest="at")
    p = add("migrate", "migrate a repo to a version")
    p.add_argument("repo", type=Path)
    p.add_argument("--to", type=int, required=True)
    p.add_argument("--allow-downgrade", action="store_true", help="permit a lower --to")
    p = add("version", "print the repo's version")
    p.add_argument("repo", type=Path)
    p = add("stamp", "record a version without migrating")
    p.add_argument("repo", type=Path)
    p.add_argument("at", type=int, metavar="VERSION")
    p = add("dump", "print the repo's logical content as canonical JSON")
    p.add_argument("repo", type=Path)
    p = add("daemon", "hold the repo lock and serve until 'shutdown' or a signal")
    p.add_argument("repo", type=Path)
    p.add_argument(
        "--migrate", action="store_true", help="migrate the repo to the latest version first"
    )
    p = add("shutdown", "stop the repo's daemon and wait until it released the lock")
    p.add_argument("repo", type=Path)
    p = add("open-store", "open the repo's block store with a backend")
    p.add_argument("repo", type=Path)
    p.add_argument("--backend", choices=("files", "sqlite"), required=True)
    p = add("golden", "write golden repos DIR/v1..DIR/vN")
    p.add_argument("dir", type=Path)
    p.add_argument("--force", action="store_true", help="replace existing vN repos")
    add("mutants", "list the mutants (REFREPO_MUTANT=<name>)")
    return parser


def parse_args(argv: list[str]) -> SimpleNamespace:
    """The parsed arguments; on bad usage, one ``error: ...`` line and exit status 2."""
    return build_parser().parse_args(argv, namespace=SimpleNamespace())
