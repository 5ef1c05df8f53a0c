"""``python -m migration_harness.reference``: the reference migration tool's command line.

Every failure is one ``error: ...`` line on stderr and exit status 1 (2 for bad
usage); a traceback never reaches the user.

A harness runs ``version`` and ``dump`` hundreds of times per contract run, so each
command imports what it needs when it runs, and the plain ``version REPO`` and
``dump REPO`` (and ``migrate REPO --to N``) are read here without argparse
(``parser`` has the full command line, ``--help`` and usage errors). ``version``
then costs little more than starting Python; ``tests/test_reference.py`` checks which
modules it loads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from types import SimpleNamespace

from migration_harness.reference.errors import RefError
from migration_harness.reference.mutants import MUTANTS, active_mutant

# Commands taking exactly one argument, the repo, that the harness runs most.
_READ_COMMANDS = ("version", "dump")


def parse_args(argv: Sequence[str]) -> SimpleNamespace:
    """``version REPO``, ``dump REPO`` and ``migrate REPO --to N [--allow-downgrade]``
    read directly, anything else (help, a typo, the other commands) by argparse."""
    if len(argv) == 2 and argv[0] in _READ_COMMANDS and not argv[1].startswith("-"):
        return SimpleNamespace(command=argv[0], repo=argv[1])
    plain_migrate = _plain_migrate(argv)
    if plain_migrate is not None:
        return plain_migrate
    from migration_harness.reference.parser import parse_args as parse_full

    return parse_full(list(argv))


def _plain_migrate(argv: Sequence[str]) -> SimpleNamespace | None:
    """``migrate REPO --to N`` (then ``--allow-downgrade``) exactly, else None."""
    if len(argv) not in (4, 5) or argv[0] != "migrate" or argv[2] != "--to":
        return None
    repo, to, rest = argv[1], argv[3], argv[4:]
    if repo.startswith("-") or not (to.isascii() and to.isdigit()):
        return None
    if rest not in ([], ["--allow-downgrade"]):
        return None
    return SimpleNamespace(command="migrate", repo=repo, to=int(to), allow_downgrade=bool(rest))


def _cmd_migrate(args: SimpleNamespace) -> int:
    from pathlib import Path

    from migration_harness.reference.hooks import Checkpoints
    from migration_harness.reference.layout import Repo
    from migration_harness.reference.migrate import migrate
    from migration_harness.reference.steps import Ctx

    environ = os.environ
    ctx = Ctx(Repo(Path(args.repo)), Checkpoints(environ), active_mutant(environ))
    print(migrate(ctx, args.to, allow_downgrade=args.allow_downgrade, environ=environ))
    return 0


def _cmd_sample(args: SimpleNamespace, wait_s: float) -> None:
    from migration_harness.reference import sample

    if args.command == "init":
        sample.init(args.repo, args.at, wait_s=wait_s)
        print(f"created {args.repo} at version {args.at}")
    elif args.command == "stamp":
        sample.stamp(args.repo, args.at, wait_s=wait_s)
    else:
        for path in sample.golden(args.dir, force=args.force):
            print(f"wrote {path}")


def _cmd_dump(repo: str | os.PathLike[str]) -> None:
    from pathlib import Path

    from migration_harness.reference.layout import Repo, dump

    sys.stdout.write(dump(Repo(Path(repo))))


def _cmd_open_store(args: SimpleNamespace) -> int:
    from migration_harness.reference import layout

    repo = layout.Repo(args.repo)
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


def _dispatch(args: SimpleNamespace) -> int:
    from migration_harness.reference.locking import lock_wait_from_env

    wait_s = lock_wait_from_env(os.environ)
    command: str = args.command
    if command == "migrate":
        return _cmd_migrate(args)
    if command == "version":
        from migration_harness.reference.versions import read_version

        print(read_version(args.repo))
    elif command == "dump":
        _cmd_dump(args.repo)
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
    args = parse_args(sys.argv[1:] if argv is None else argv)
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
