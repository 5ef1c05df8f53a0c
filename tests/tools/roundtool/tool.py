"""roundtool: a tool whose race breaks in one round only, so the contract's rounds are
tested without luck. `create` counts how many repos were made in the case's scratch
directory (`{repo}/../made`); in the third, every racer appends its own record to the
data, as racers without a lock do."""

import os
import sys
from pathlib import Path


def main() -> int:
    verb, repo = sys.argv[1], Path(sys.argv[2])
    made = repo.parent / "made"
    if verb == "create":
        repo.mkdir(parents=True, exist_ok=True)
        count = int(made.read_text()) + 1 if made.exists() else 1
        made.write_text(str(count))
        (repo / "version").write_text(f"{sys.argv[3]}\n")
        (repo / "data").write_text("payload\n")
    elif verb == "migrate":
        if made.read_text() == "3":
            with open(repo / "data", "a") as data:
                data.write(f"applied by {os.getpid()}\n")
        (repo / "version").write_text(f"{sys.argv[3]}\n")
    else:
        print((repo / "data").read_text(), end="")
    return 0


sys.exit(main())
