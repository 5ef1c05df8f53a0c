"""``go_crash_clean_rate``: the strace crash contract on a multi-threaded Go migrator.

A Go binary makes its file-system calls from varying threads; the share of crash
contract runs on ``tests/tools/gomigrator`` that end with a verdict and no harness
error must be 1.0. The mutant that writes in place must be caught in each run too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Measured, Settings
from bench.gobuild import find_go

__all__ = ["SPEC", "build_gomigrator", "measure_go_crash"]

SOURCE = Path(__file__).resolve().parents[1] / "tests" / "tools" / "gomigrator" / "main.go"
TIMEOUT_S = 900.0

SPEC = """\
[target]
name = "gomigrator"
oldest = 1
latest = 3
create = ["{binary}", "init", "{{repo}}", "{{version}}"]
migrate = ["{binary}", "migrate", "{{repo}}", "{{to}}"]
version = ["{binary}", "version", "{{repo}}"]
dump = ["{binary}", "dump", "{{repo}}"]
lock = {{ path = "{{repo}}/repo.lock", style = "go-lockedfile" }}
ignore = ["{{repo}}/repo.lock"]
{extra}
"""


def build_gomigrator(go: str, work: Path) -> Path:
    """``go build`` the test migrator into ``work`` (no module, nothing downloaded)."""
    shutil.copy(SOURCE, work / "main.go")
    env = {**os.environ, "GOCACHE": str(work / "cache"), "GOPATH": str(work / "gopath")}
    env.update(GO111MODULE="off", GOTOOLCHAIN="local", CGO_ENABLED="0")
    binary = work / "gomigrator"
    subprocess.run(
        [go, "build", "-o", str(binary), "main.go"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        timeout=TIMEOUT_S,
    )
    return binary


def _run(spec: Path) -> tuple[int, bool, float]:
    started = time.perf_counter()
    args = ["--config", str(spec), "--contract", "crash", "--crash-backend", "strace"]
    done = subprocess.run(
        [sys.executable, "-m", "migration_harness", "check", *args],
        capture_output=True,
        text=True,
        cwd=spec.parent,
        timeout=TIMEOUT_S,
    )
    return done.returncode, "harness error" in done.stdout, time.perf_counter() - started


def measure_go_crash(settings: Settings) -> Measured:
    out = Measured()
    go = find_go()
    if go is None or shutil.which("strace") is None or not sys.platform.startswith("linux"):
        out.values["go_crash_clean_rate"] = None
        out.skipped["go_crash_clean_rate"] = "needs Linux, strace and go (apt-get install ...)"
        return out
    work = settings.workdir / "gocrash"
    work.mkdir()
    binary = build_gomigrator(go, work)
    good, mutant = work / "good.toml", work / "mutant.toml"
    good.write_text(SPEC.format(binary=binary, extra=""))
    mutant.write_text(SPEC.format(binary=binary, extra='env = { GOMIGRATOR_MUTANT = "inplace" }'))
    runs = settings.runs(10, 3)
    clean = caught = 0
    seconds: list[float] = []
    for _ in range(runs):
        code, harness_error, elapsed = _run(good)
        clean += code == 0 and not harness_error
        seconds.append(elapsed)
        code, harness_error, _ = _run(mutant)
        caught += code == 1 and not harness_error
    out.values["go_crash_clean_rate"] = clean / runs
    out.extra["go_crash_mutant_caught_rate"] = caught / runs
    out.extra["go_crash_run_s"] = sorted(seconds)[len(seconds) // 2]
    out.notes["go_crash_clean_rate"] = (
        f"{clean} of {runs} crash-contract runs on the Go migrator passed with no harness "
        f"error; its in-place mutant was caught in {caught} of {runs}"
    )
    return out
