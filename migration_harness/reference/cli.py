"""``python -m migration_harness.reference``: the reference migration tool's command line.

Every failure is one ``error: ...`` line on stderr and exit status 1 (2 for bad
usage); a traceback never reaches the user.

Each command imports what it needs when it runs: a harness calls ``version`` and
``dump`` hundreds of times, and they should cost little more than starting Python.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from migration_harness.reference import layout
from migration_harness.reference.errors import RefError
from migration_harness.reference.layout import Repo
from migration_harness.reference.mutants import MUTANTS, active_mutant

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


def _cmd_migrate(args: argparse.Namespace) -> int:
    from migration_harness.reference.hooks import Checkpoints
    from migration_harness.reference.migrate import migrate
    from migration_harness.reference.steps import Ctx

    environ = os.environ
    ctx = Ctx(Repo(args.repo), Checkpoints(environ), active_mutant(environ))
    print(migrate(ctx, args.to, allow_downgrade=args.allow_downgrade, environ=environ))
    return 0


def _cmd_sample(args: argparse.Namespace, wait_s: float) -> None:
    from migration_harness.reference import sample

    if args.command == "init":
        sample.init(args.repo, args.at, wait_s=wait_s)
        print(f"created {args.repo} at version {args.at}")
    elif args.command == "stamp":
        sample.stamp(args.repo, args.at, wait_s=wait_s)
    else:
        for path in sample.golden(args.dir, force=args.force):
            print(f"wrote {path}")


def _cmd_open_store(args: argparse.Namespace) -> int:
    repo = Repo(args.repo)
    if args.backend == "files":
        if repo.tombstone.exists():
            raise RefError(
                f"block store {repo.blocks} has been migrated to {layout.STORE_DB}; it is "
                "tombstoned and the files backend must not use it (use --backend sqlite)"
            )
        count = len(layout.read_file_blocks(repo))
    else:
        count = len(layout.read_store_blocks(repo))
    print(f"opened {args.backend} store of {repo.root}: {count} blocks")
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    from migration_harness.reference.locking import lock_wait_from_env

    wait_s = lock_wait_from_env(os.environ)
    command: str = args.command
    if command == "migrate":
        return _cmd_migrate(args)
    if command == "version":
        print(layout.read_version(Repo(args.repo)))
    elif command == "dump":
        sys.stdout.write(layout.dump(Repo(args.repo)))
    elif command in ("init", "stamp", "golden"):
        _cmd_sample(args, wait_s)
    elif command in ("daemon", "shutdown"):
        from migration_harness.reference import daemon

        if command == "daemon":
            return daemon.run_daemon(args.repo, wait_s=wait_s, migrate=args.migrate)
        print(daemon.shutdown(args.repo))
    elif command == "open-store":
        return _cmd_open_store(args)
    elif command == "mutants":
        for name, text in MUTANTS.items():
            print(f"{name:20} {text}")
    return 0


def _utf8_std_streams() -> None:
    """Write UTF-8, as the harness reads it: on Windows a pipe gets the ANSI code page
    (cp1252), where printing a non-ASCII repo path raised UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(encoding="utf-8", errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _utf8_std_streams()
    args = build_parser().parse_args(argv)
    try:
        active_mutant(os.environ)  # an unknown name fails every command, not just migrate
        return _dispatch(args)
    except RefError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:
        if _is_sqlite_error(exc):
            return _fail(f"sqlite: {exc}")
        # a bug: still one line, never a traceback
        return _fail(f"internal error: {type(exc).__name__}: {exc}")


def _is_sqlite_error(exc: Exception) -> bool:
    # sqlite3 is imported only by the commands that open the store.
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(exc, sqlite3.Error)


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code
