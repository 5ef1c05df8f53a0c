"""``xdist_speedup``: the project's own suite, ``pytest tests -n 0`` vs ``-n 2``, wall time.

One run of each (the suite takes minutes); random order off so both runs execute
the same tests in the same order. The result is the ratio ``n0 / n2``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.common import Measured, Settings

__all__ = ["measure_xdist", "summary_line"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SUITE_TIMEOUT_S = 3600.0


def summary_line(output: str) -> str:
    """pytest's final ``== 12 passed in 3.4s ==`` line, without the ``=`` padding."""
    for line in reversed(output.splitlines()):
        stripped = line.strip().strip("=").strip()
        if stripped and (" in " in stripped or "no tests ran" in stripped):
            return stripped
    return "(no summary line)"


def _suite(workers: str) -> tuple[float, int, str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests",
        "-n",
        workers,
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "-q",
        "--timeout=300",
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=SUITE_TIMEOUT_S
    )
    return time.perf_counter() - started, done.returncode, summary_line(done.stdout)


def measure_xdist(settings: Settings) -> Measured:
    out = Measured()
    if settings.quick:
        out.values["xdist_speedup"] = None
        out.skipped["xdist_speedup"] = "--quick: the two suite runs take minutes"
        return out
    serial_s, serial_rc, serial_summary = _suite("0")
    parallel_s, parallel_rc, parallel_summary = _suite("2")
    out.values["xdist_speedup"] = serial_s / parallel_s
    out.extra["suite_n0_s"] = serial_s
    out.extra["suite_n2_s"] = parallel_s
    out.extra["suite_n0_summary"] = serial_summary
    out.extra["suite_n2_summary"] = parallel_summary
    out.notes["xdist_speedup"] = (
        f"-n 0: {serial_s:.0f} s ({serial_summary}, exit {serial_rc}); "
        f"-n 2: {parallel_s:.0f} s ({parallel_summary}, exit {parallel_rc})"
    )
    return out
