"""The reference tool's `migrate`, run through a wrapper that can break the harness's spy.

On the run numbered in ``break-on-run`` (beside this file), the spy of the step
refrepo-1-to-2 that the harness put first on PATH is overwritten with bytes no OS can
start: the spy fails before it logs its call, as a process under Wine now and then does.
With ``fail-after-break`` present, every later run fails on its own (a tool at fault).
Usage: migrate.py REPO TO
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def count_run() -> int:
    counter = HERE / "runs"
    run = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(run))
    return run


def break_first_spy() -> None:
    spies = os.environ["PATH"].split(os.pathsep)[0]
    spy = shutil.which("refrepo-1-to-2", path=spies)
    assert spy is not None, f"no spy of refrepo-1-to-2 in {spies}"
    Path(spy).write_bytes(b"\0not a program\0")


def main() -> int:
    run = count_run()
    breaking = int((HERE / "break-on-run").read_text())
    if run == breaking:
        break_first_spy()
    elif run > breaking and (HERE / "fail-after-break").exists():
        print("migrate: failing on its own", file=sys.stderr)
        return 1
    repo, to = sys.argv[1:3]
    command = [sys.executable, "-m", "migration_harness.reference", "migrate", repo, "--to", to]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
