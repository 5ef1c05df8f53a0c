"""The program a lock-holder process runs: ``python -m migration_harness.locks._holder STYLE PATH``.

Protocol with the parent (``hold_lock``):
- takes the lock, retrying a non-blocking attempt for up to ``--wait`` seconds;
- prints one line ``held <style> pid=<pid>`` on stdout, then waits on stdin;
- a line ``release`` on stdin, or stdin closing (the parent died), releases the
  lock and exits 0, so a holder never outlives its test;
- a hard kill leaves whatever the style leaves after a crash.
Exit codes: 0 released, 2 error (message on stderr), 3 still busy after ``--wait``.
With ``--probe`` it only tries once, releases at once, prints ``acquired`` or
``busy`` and exits 0 or 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from migration_harness.locks._base import Held, LockBusy
from migration_harness.locks._styles import STYLES, UnsupportedLockStyle, acquire

EXIT_ERROR = 2
EXIT_BUSY = 3
_RETRY_S = 0.05


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m migration_harness.locks._holder")
    parser.add_argument("style", choices=[s for s in STYLES if s != "command"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the lock")
    parser.add_argument("--refresh", type=float, default=1.0, help="keep-alive period (mkdir)")
    parser.add_argument("--probe", action="store_true", help="try once, release, report")
    return parser.parse_args(argv)


def _acquire_within(style: str, path: Path, wait: float) -> Held:
    deadline = time.monotonic() + wait
    while True:
        try:
            return acquire(style, path)
        except LockBusy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(_RETRY_S)


def _wait_for_release(held: Held, refresh: float) -> None:
    done = threading.Event()

    def read_stdin() -> None:
        # Any line that is not "release" is ignored; EOF means the parent is gone.
        for line in sys.stdin:
            if line.strip() == "release":
                break
        done.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    while not done.wait(refresh):
        held.refresh()


def _probe(style: str, path: Path) -> int:
    try:
        held = acquire(style, path)
    except LockBusy:
        print("busy", flush=True)
        return 1
    held.release()
    print("acquired", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        if args.probe:
            return _probe(args.style, args.path)
        held = _acquire_within(args.style, args.path, args.wait)
    except LockBusy as exc:
        print(f"lock holder: {exc} (waited {args.wait:g}s)", file=sys.stderr)
        return EXIT_BUSY
    except (OSError, UnsupportedLockStyle) as exc:
        print(f"lock holder: cannot take {args.style} lock on {args.path}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"held {args.style} pid={os.getpid()}", flush=True)
    _wait_for_release(held, args.refresh)
    held.release()
    print("released", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
