"""``migration-harness scripts DIR``: make a spec's ``console_scripts`` in DIR, the same
commands ``check`` makes for each case, to run the tool by hand the way the contract runs
it (put DIR first on PATH)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from migration_harness.cli import UsageError

NAME = "scripts"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="make the spec's console_scripts in a directory, to run the tool by hand",
        description="Make the commands the spec's `console_scripts` names in DIR (created "
        "if missing), as `check` makes them for each case; then put DIR first on PATH.",
    )
    parser.add_argument("directory", metavar="DIR", help="where to make them")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the spec (default: ./migration-harness.toml, else the built-in reference tool)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from migration_harness.cli.check import load_spec
    from migration_harness.launchers import write_console_scripts

    _, target = load_spec(args.config)
    if not target.console_scripts:
        raise UsageError(f"{target.source}: the spec declares no console_scripts")
    directory = Path(args.directory)
    try:
        made = write_console_scripts(directory, target.console_scripts)
    except OSError as exc:
        raise UsageError(f"cannot make scripts in {directory}: {exc.strerror or exc}") from None
    for path in made:
        print(path)
    print(
        f"put {directory.resolve()} first on PATH, e.g. PATH={directory.resolve()}{os.pathsep}$PATH"
    )
    return 0
