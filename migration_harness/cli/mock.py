"""``migration-harness mock``: build a mock executable from the shell, or print its calls."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from migration_harness.cli import UsageError

NAME = "mock"

EXAMPLES = """\
examples:
  migration-harness mock fs-repo-1-to-2 --dir bin --require-flag=-path --stdout "done"
  migration-harness mock mytool --dir bin --spec behaviour.json
  migration-harness mock --calls bin/fs-repo-1-to-2
Flags that start with '-' are given with '=': --require-flag=-path.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="build a mock executable (a real .exe on Windows) or print its call log",
        description="Build a mock executable NAME in DIR and print its path, or print "
        "the calls of an existing mock (one JSON line per run).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="executable name, no directory")
    parser.add_argument("--dir", metavar="DIR", help="directory to build the mock in")
    parser.add_argument("--spec", metavar="FILE.json", help="behaviour as a JSON object")
    parser.add_argument("--calls", metavar="DIR/NAME", help="print the call log of a mock")
    behaviour = parser.add_argument_group("behaviour (instead of --spec)")
    behaviour.add_argument("--exit-code", type=int, metavar="N")
    behaviour.add_argument("--stdout", metavar="TEXT")
    behaviour.add_argument("--stderr", metavar="TEXT")
    behaviour.add_argument("--sleep", type=float, metavar="SECONDS")
    behaviour.add_argument("--write-file", action="append", metavar="PATH=TEXT", default=[])
    behaviour.add_argument("--replace-file", action="append", metavar="PATH=TEXT", default=[])
    behaviour.add_argument("--version-file", metavar="PATH=VERSION")
    behaviour.add_argument("--lock-file", metavar="PATH", help="lock file to take (exclusive)")
    behaviour.add_argument("--lock-action", choices=("hold", "create", "remove"))
    behaviour.add_argument(
        "--lock-style",
        metavar="STYLE",
        help="how the lock is taken: the file's existence (exists, the default) or a kernel"
        " lock: flock, posix, windows, go-lockedfile (what Go's lockedfile takes on this OS)",
    )
    behaviour.add_argument("--require-flag", action="append", metavar="FLAG", default=[])
    behaviour.add_argument("--missing-flag-exit-code", type=int, metavar="N")
    behaviour.add_argument("--crash", action="store_true", help="die hard (SIGKILL) at the end")
    behaviour.add_argument("--log-env", action="append", metavar="VAR", default=[])
    behaviour.add_argument(
        "--passthrough", action="store_true", help="spy: log, then run the next NAME on PATH"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.calls is not None:
        return _print_calls(args)
    if not args.name or not args.dir:
        raise UsageError("give NAME and --dir DIR to build a mock, or --calls DIR/NAME")
    from migration_harness.mockbin import MockBuildError, MockSpecError, build_mock

    try:
        mock = build_mock(args.dir, args.name, _behaviour(args))
    except (MockSpecError, MockBuildError) as exc:
        raise UsageError(str(exc)) from None
    print(mock.path)
    return 0


def _print_calls(args: argparse.Namespace) -> int:
    if args.name or args.dir or args.spec:
        raise UsageError("--calls takes only the mock's path: --calls DIR/NAME")
    from migration_harness.mockbin import open_mock

    try:
        mock = open_mock(args.calls)
        text = mock.log_path.read_text(encoding="ascii") if mock.log_path.exists() else ""
    except OSError as exc:
        raise UsageError(str(exc)) from None
    print(text, end="")
    return 0


def _behaviour(args: argparse.Namespace) -> dict[str, Any]:
    from_flags = _behaviour_from_flags(args)
    if args.spec is None:
        return from_flags
    if from_flags:
        raise UsageError(f"--spec {args.spec} cannot be combined with behaviour options")
    try:
        data = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read --spec {args.spec}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--spec {args.spec} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--spec {args.spec}: expected a JSON object of behaviour keys")
    return data


def _pairs(option: str, values: list[str]) -> dict[str, str]:
    result = {}
    for value in values:
        path, sep, text = value.partition("=")
        if not sep or not path:
            raise UsageError(f"{option} {value!r}: expected PATH=TEXT")
        result[path] = text
    return result


def _behaviour_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    plain = {
        "exit_code": args.exit_code,
        "stdout": args.stdout,
        "stderr": args.stderr,
        "sleep": args.sleep,
        "missing_flag_exit_code": args.missing_flag_exit_code,
        "write_files": _pairs("--write-file", args.write_file),
        "replace_files": _pairs("--replace-file", args.replace_file),
        "require_flags": args.require_flag,
        "log_env": args.log_env,
        "crash": args.crash,
        "passthrough": args.passthrough,
    }
    behaviour = {k: v for k, v in plain.items() if v not in (None, [], {}, False)}
    if args.version_file is not None:
        path, sep, version = args.version_file.partition("=")
        if not sep or not path or not version:
            raise UsageError(f"--version-file {args.version_file!r}: expected PATH=VERSION")
        behaviour["version_file"] = {"path": path, "value": version}
    for flag, value in (("--lock-action", args.lock_action), ("--lock-style", args.lock_style)):
        if value is not None and args.lock_file is None:
            raise UsageError(f"{flag} needs --lock-file PATH")
    if args.lock_file is not None:
        behaviour["lock_file"] = {"path": args.lock_file, "action": args.lock_action or "hold"}
        if args.lock_style is not None:
            behaviour["lock_file"]["style"] = args.lock_style
    return behaviour
