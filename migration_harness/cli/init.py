"""``migration-harness init``: scaffold a downstream project.

Writes a commented starter ``migration-harness.toml``, a GitHub workflow that calls the
reusable contract workflow with one ``uses:`` line, and a nox session. Existing files are
never overwritten without ``--force``: init checks every path first and writes nothing
if any exists.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from migration_harness.cli import UsageError
from migration_harness.files import atomic_write
from migration_harness.scaffold import ScaffoldValues, default_workflow_ref, render

# The tool's name becomes a TOML string and the executable in the starter commands.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
FALLBACK_NAME = "mytool"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "init",
        help="scaffold migration-harness.toml, a CI workflow and a nox session",
        description=(
            "Write a commented starter migration-harness.toml, "
            ".github/workflows/migrations.yml (calls the reusable contract workflow) and "
            "noxfile_migrations.py into DIR. Refuses to overwrite existing files unless "
            "--force is given."
        ),
    )
    parser.add_argument(
        "directory", nargs="?", default=".", metavar="DIR", help="project root (default: .)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument(
        "--name",
        help="your tool's name, used as the executable in the starter commands "
        "(default: the directory's name)",
    )
    parser.add_argument(
        "--workflow",
        default=None,
        metavar="REF",
        help=f"the caller's `uses:` value (default: {default_workflow_ref()})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.directory)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is not a directory; pass the project's root directory")
    name = _tool_name(args.name, root)
    files = render(ScaffoldValues(name=name, workflow=args.workflow or default_workflow_ref()))
    targets = {rel: root.joinpath(*rel.split("/")) for rel in files}
    existing = [rel for rel, path in targets.items() if path.exists()]
    if existing and not args.force:
        raise UsageError(
            f"not overwriting existing file(s) in {root}: {', '.join(existing)} "
            "(nothing was written; use --force to overwrite)"
        )
    for rel, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, files[rel])
        verb = "overwrote" if rel in existing else "wrote"
        print(f"{verb} {path}")
    print(
        f"next: edit {targets['migration-harness.toml']} to describe {name}, "
        "then run 'migration-harness check'",
        file=sys.stdout,
    )
    return 0


def _tool_name(given: str | None, root: Path) -> str:
    if given is not None:
        if not NAME_RE.fullmatch(given):
            raise UsageError(
                f"--name {given!r} is not a usable tool name; expected letters, digits, "
                "'.', '_' or '-' (at most 64, starting with a letter or digit)"
            )
        return given
    # Default: the directory's name, cut down to the characters a name may have.
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", root.resolve().name).strip("-._")[:64]
    return base if base and NAME_RE.fullmatch(base) else FALLBACK_NAME
