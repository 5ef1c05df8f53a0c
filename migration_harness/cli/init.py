"""``migration-harness init``: scaffold a downstream project.

Writes a commented starter ``migration-harness.toml``, a GitHub workflow that calls the
reusable contract workflow with one ``uses:`` line, and a nox session. Existing files are
never overwritten without ``--force``: init checks every path first and writes nothing
if any exists.

The workflow and the nox session install the same harness as the one running init: from
its repository at its commit (a clone or a git install), else its release from the
package index.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from migration_harness.cli import UsageError
from migration_harness.files import atomic_write
from migration_harness.origin import find_origin
from migration_harness.presets import OPTIONS as PRESET_OPTIONS
from migration_harness.presets import PresetError, all_options
from migration_harness.presets import load as load_preset
from migration_harness.presets import names as preset_names
from migration_harness.scaffold import (
    SPEC_FILE,
    ScaffoldValues,
    default_harness,
    default_workflow_ref,
    render,
)

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
        help="the caller's `uses:` value (default: the reusable workflow at this harness's "
        "commit, else at its release tag)",
    )
    parser.add_argument(
        "--harness-version",
        default=None,
        metavar="REQ",
        help="the pip requirement that installs the harness in CI and nox (default: this "
        "harness's repository at its commit, else its release from the package index)",
    )
    presets = parser.add_argument_group(
        "presets",
        "--preset NAME writes a spec for a framework you already use, read from your "
        "project; each preset takes some of the options below",
    )
    presets.add_argument(
        "--preset",
        choices=preset_names(),
        metavar="NAME",
        help=f"one of: {', '.join(preset_names())}",
    )
    for option in all_options().values():
        presets.add_argument(option.flag, dest=option.dest, metavar="VALUE", help=option.help)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.directory)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is not a directory; pass the project's root directory")
    name = _tool_name(args.name, root)
    values, note = _values(name, args.workflow, args.harness_version)
    files = render(values)
    if args.preset is not None:
        files[SPEC_FILE] = _preset_spec(args, root)
    else:
        _refuse_preset_options(args, None)
    targets = {rel: root.joinpath(*rel.split("/")) for rel in files}
    existing = [rel for rel, path in targets.items() if path.exists()]
    if existing and not args.force:
        raise UsageError(
            f"not overwriting existing file(s) in {root}: {', '.join(existing)} "
            "(nothing was written; use --force to overwrite)"
        )
    mode = _new_file_mode()
    for rel, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        # A new file gets the user's usual mode; an overwritten one keeps its own.
        atomic_write(path, files[rel], mode=None if rel in existing else mode)
        verb = "overwrote" if rel in existing else "wrote"
        print(f"{verb} {path}")
    if note is not None:
        print(note, file=sys.stderr)
    spec = targets[SPEC_FILE]
    if args.preset is not None:
        print(f"next: run 'migration-harness check --config {spec}'")
    else:
        print(f"next: edit {spec} to describe {name}, then run 'migration-harness check'")
    return 0


def _preset_spec(args: argparse.Namespace, root: Path) -> str:
    """The spec the chosen preset reads from the project at ``root``."""
    _refuse_preset_options(args, args.preset)
    preset = load_preset(args.preset)
    options = {o.dest: getattr(args, o.dest) for o in PRESET_OPTIONS[args.preset]}
    try:
        return preset.spec(root.resolve(), options)
    except PresetError as exc:
        raise UsageError(f"--preset {args.preset}: {exc}") from None


def _refuse_preset_options(args: argparse.Namespace, name: str | None) -> None:
    """An option given that the chosen preset (or no preset) does not read is a mistake."""
    own = {o.flag for o in PRESET_OPTIONS[name]} if name is not None else set()
    given = [o.flag for o in all_options().values() if getattr(args, o.dest) is not None]
    stray = [flag for flag in given if flag not in own]
    if not stray:
        return
    if name is None:
        verb = "applies" if len(stray) == 1 else "apply"
        raise UsageError(f"{', '.join(stray)} only {verb} with --preset NAME")
    takes = ", ".join(sorted(own)) or "no options"
    raise UsageError(f"--preset {name} does not read {', '.join(stray)} (it takes: {takes})")


def _values(
    name: str, workflow: str | None, harness: str | None
) -> tuple[ScaffoldValues, str | None]:
    """What the templates are filled with, and a note for the user, if any."""
    if harness is not None:
        try:
            Requirement(harness)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0]  # the rest draws a caret under the input
            raise UsageError(
                f"--harness-version {harness!r} is not a pip requirement ({reason}); expected "
                "e.g. 'migration-harness==0.1.0' or 'migration-harness @ git+URL@COMMIT'"
            ) from None
    commit, note = None, None
    if workflow is None or harness is None:
        origin = find_origin()
        commit = origin.commit
        if origin.dirty:
            note = (
                f"note: this harness has uncommitted changes; the files pin commit {commit}, "
                "which lacks them"
            )
    values = ScaffoldValues(
        name=name,
        workflow=workflow or default_workflow_ref(commit),
        harness=harness or default_harness(commit),
    )
    return values, note


def _new_file_mode() -> int:
    """What ``open()`` would give a new file: 0o666 less the umask. The temp file of an
    atomic write is created 0o600, which would hide the user's files from their group."""
    # The umask can only be read by setting it; init is a short single-threaded command.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


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
