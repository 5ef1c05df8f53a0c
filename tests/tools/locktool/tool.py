"""locktool: a repo holds `version` and `data`; every migrate creates `tool.lock` and keeps it.

The lock file is declared in the spec, so creating it is no change to the data.
LOCKTOOL_LITTER=1 also leaves `stray` on a refused run, a real change the contract
must still see.
"""

import fcntl
import os
import sys
from pathlib import Path

LATEST = 2


def migrate(repo: Path, to: int) -> int:
    with open(repo / "tool.lock", "a+") as lock:  # created on every run, never removed
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        version = int((repo / "version").read_text())
        if version > LATEST:
            if os.environ.get("LOCKTOOL_LITTER"):
                (repo / "stray").write_text("left by a refused run\n")
            print(f"error: repo version {version} is newer than {LATEST}", file=sys.stderr)
            return 1
        (repo / "version").write_text(f"{to}\n")
    return 0


def main() -> int:
    verb, repo = sys.argv[1], Path(sys.argv[2])
    if verb == "create":
        repo.mkdir(parents=True, exist_ok=True)
        (repo / "version").write_text(f"{sys.argv[3]}\n")
        (repo / "data").write_text("payload\n")
        return 0
    if verb == "migrate":
        return migrate(repo, int(sys.argv[3]))
    print((repo / "data").read_text(), end="")
    return 0


sys.exit(main())
