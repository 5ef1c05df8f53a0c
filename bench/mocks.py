"""``mock_build_ms`` and ``mock_run_ratio``: building a mock in process, and running it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.common import Measured, Settings
from bench.stats import median, ratio, repeat, to_ms
from migration_harness.mockbin import build_mock

__all__ = ["BEHAVIOUR", "measure_mock_build", "measure_mock_run"]

#: The behaviour of the benchmark mock; bench.gobuild compiles the same in Go.
BEHAVIOUR = {"stdout": "migrated", "exit_code": 0}
MOCK_NAME = "fs-repo-1-to-2"


def measure_mock_build(settings: Settings) -> Measured:
    directory = settings.workdir / "mock-build"
    sample = repeat(lambda i: _build(directory / f"d{i}"), runs=settings.runs(50, 10), warmup=3)
    out = Measured()
    out.values["mock_build_ms"] = to_ms(sample.median)
    out.extra["mock_build_ms_range"] = [to_ms(sample.low), to_ms(sample.high)]
    return out


def _build(directory: Path) -> None:
    build_mock(directory, MOCK_NAME, BEHAVIOUR)


def _time_run(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def measure_mock_run(settings: Settings) -> Measured:
    """Runs alternate between the mock and ``python -c pass`` so drift hits both alike."""
    mock = build_mock(settings.workdir / "mock-run", MOCK_NAME, BEHAVIOUR)
    bare = [sys.executable, "-c", "pass"]
    runs, warmup = settings.runs(30, 8), 3
    mock_times: list[float] = []
    bare_times: list[float] = []
    for i in range(warmup + runs):
        bare_time = _time_run(bare)
        mock_time = _time_run([str(mock.path), "-path=/repo"])
        if i >= warmup:
            bare_times.append(bare_time)
            mock_times.append(mock_time)
    out = Measured()
    out.values["mock_run_ratio"] = ratio(median(mock_times), median(bare_times))
    out.extra["mock_run_ms"] = to_ms(median(mock_times))
    out.extra["python_c_pass_ms"] = to_ms(median(bare_times))
    logged = len(mock.calls())
    if logged != warmup + runs:
        raise RuntimeError(f"mock logged {logged} calls, expected {warmup + runs}")
    return out
