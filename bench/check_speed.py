"""``check_ref_*``: `migration-harness check` against the reference tool, serial and
parallel, in one run.

- ``check_ref_serial_s``: wall time of ``check --serial`` (one case, one crash point at a
  time), the whole contract.
- ``check_ref_parallel_s``: wall time of ``check`` as a user runs it (cases side by
  side, two workers per CPU; crash points in two lanes per CPU).
- ``check_parallel_ratio``: parallel / serial (target at most 0.6 on 2 cores).
- ``check_harness_share``: in the serial run, the time that is not the tool's own
  commands, over the tool's time: (wall - tool) / tool, where tool is the sum of the
  report's ``tool_seconds`` (target at most 0.15). Interpreter and pytest start-up of
  `check` itself count as the harness's.

The detail has the same for the crash contract alone and the tool's seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Measured, Settings

__all__ = ["measure_check_speed"]

#: A bound for "must finish", not a speed check.
CHECK_TIMEOUT_S = 1800


def _timed_check(args: list[str], workdir: Path, name: str) -> tuple[float, float]:
    """(wall seconds, the tool's seconds) of one passing ``check`` run."""
    report = workdir / f"{name}.json"
    command = [
        sys.executable,
        "-m",
        "migration_harness",
        "check",
        *args,
        "--report-json",
        str(report),
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        # The whole output stays beside the report: a tail alone may miss the failure.
        output = workdir / f"{name}.out"
        output.write_text(done.stdout + done.stderr, encoding="utf-8")
        verdict = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {verdict[0]} ({output})")
    results = json.loads(report.read_text(encoding="utf-8"))["results"]
    return wall, sum(float(r.get("tool_seconds", 0.0)) for r in results)


def measure_check_speed(settings: Settings) -> Measured:
    workdir = settings.workdir / "check-speed"
    workdir.mkdir(parents=True, exist_ok=True)
    out = Measured()
    serial, tool = _timed_check(["--serial"], workdir, "serial")
    parallel, _ = _timed_check([], workdir, "parallel")
    out.values["check_ref_serial_s"] = serial
    out.values["check_ref_parallel_s"] = parallel
    out.values["check_parallel_ratio"] = parallel / serial
    out.values["check_harness_share"] = (serial - tool) / tool
    out.extra["check_ref_tool_s"] = tool
    crash_serial, crash_tool = _timed_check(["--serial", "--contract", "crash"], workdir, "crash1")
    crash_parallel, _ = _timed_check(["--contract", "crash"], workdir, "crashN")
    out.extra["check_crash_serial_s"] = crash_serial
    out.extra["check_crash_parallel_s"] = crash_parallel
    out.extra["check_crash_parallel_ratio"] = crash_parallel / crash_serial
    out.extra["check_crash_harness_share"] = (crash_serial - crash_tool) / crash_tool
    return out
