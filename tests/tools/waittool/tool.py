"""waittool: waits for its repo lock (flock on `tool.lock`) up to 2 s, then gives up.

WAITTOOL_MODE picks how it behaves when the lock stays held:
  (unset)    gives up after 2 s: one line naming the lock, exit 1
  forever    never gives up (ignores its own wait limit)
  traceback  gives up after 2 s with a Python traceback (like a framework's
             "database is locked" error)
"""

import fcntl
import os
import sys
import time
from pathlib import Path

WAIT_S = 2.0


def lock(repo: Path) -> object:
    handle = open(repo / "tool.lock", "a+")  # noqa: SIM115 - held until the process exits
    mode = os.environ.get("WAITTOOL_MODE", "")
    if mode == "forever":
        fcntl.flock(handle, fcntl.LOCK_EX)
        return handle
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                if mode == "traceback":
                    raise RuntimeError("database is locked") from None
                print(f"error: repo is locked: {repo / 'tool.lock'} is held", file=sys.stderr)
                sys.exit(1)
            time.sleep(0.05)


def main() -> int:
    verb, repo = sys.argv[1], Path(sys.argv[2])
    if verb == "create":
        repo.mkdir(parents=True, exist_ok=True)
        (repo / "version").write_text(f"{sys.argv[3]}\n")
        (repo / "data").write_text("payload\n")
    elif verb == "migrate":
        held = lock(repo)
        (repo / "version").write_text(f"{sys.argv[3]}\n")
        del held
    else:
        print((repo / "data").read_text(), end="")
    return 0


sys.exit(main())
