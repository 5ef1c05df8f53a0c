"""globtool: finds its repo's files by glob expansion, as some migration tools find
their migration files; a '[' in the repo path then matches nothing, and `migrate`
exits 0 having done nothing."""

import glob
import sys
from pathlib import Path


def main() -> int:
    verb, repo = sys.argv[1], Path(sys.argv[2])
    if verb == "create":
        repo.mkdir(parents=True, exist_ok=True)
        (repo / "version").write_text(f"{sys.argv[3]}\n")
        (repo / "data").write_text("payload\n")
    elif verb == "migrate":
        for path in glob.glob(str(repo / "vers*")):
            Path(path).write_text(f"{sys.argv[3]}\n")
    else:
        print((repo / "data").read_text(), end="")
    return 0


sys.exit(main())
