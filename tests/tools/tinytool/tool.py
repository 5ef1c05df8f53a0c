"""tinytool: a repo is a directory holding `version` and `data`; migrating rewrites `version`.

How it misbehaves is chosen by TINYTOOL_MODE (the verdict tests set it):
  slow       migrate writes $TINYTOOL_MARK/started, starts a child, then sleeps
  rmparent   migrate deletes its repo's parent directory
  hang-probe migrate hangs when the crash hook probes it (MIGRATION_HARNESS_CRASH_AT set)
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

SLEEP_S = 300


def migrate(repo: Path, to: str) -> None:
    mode = os.environ.get("TINYTOOL_MODE", "")
    if mode == "slow":
        mark = Path(os.environ["TINYTOOL_MARK"])
        # The child names the marker directory so that a test can find it among processes.
        subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({SLEEP_S})", str(mark)])
        (mark / "started").write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(SLEEP_S)
    elif mode == "rmparent":
        # Windows refuses to remove the directory this process works in: the rest goes
        shutil.rmtree(repo.parent, ignore_errors=True)
        return
    elif mode == "hang-probe" and os.environ.get("MIGRATION_HARNESS_CRASH_AT"):
        time.sleep(SLEEP_S)
    (repo / "version").write_text(f"{to}\n", encoding="utf-8")


def main() -> None:
    verb, repo = sys.argv[1], Path(sys.argv[2])
    if verb == "create":
        repo.mkdir(parents=True, exist_ok=True)
        (repo / "version").write_text(f"{sys.argv[3]}\n", encoding="utf-8")
        (repo / "data").write_text("payload\n", encoding="utf-8")
    elif verb == "migrate":
        migrate(repo, sys.argv[3])
    elif verb == "dump":
        print((repo / "data").read_text(encoding="utf-8"), end="")


main()
