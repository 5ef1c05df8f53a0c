"""``refrepo_version_over_python_ms``: how much the reference tool adds to Python's start.

The harness runs ``version`` and ``dump`` hundreds of times per contract run, so the
reference tool's start-up is most of the main job's tool time. Runs alternate
between the tool and ``python -c pass`` so that drift in the machine's load hits
both alike; the figure is the difference of the medians.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.common import Measured, Settings
from bench.stats import median, to_ms

__all__ = ["measure_refrepo_startup"]


def _time_run(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def measure_refrepo_startup(settings: Settings) -> Measured:
    repo = settings.workdir / "startup-repo"
    tool = [sys.executable, "-m", "migration_harness.reference"]
    subprocess.run([*tool, "init", str(repo), "--version", "4"], check=True, capture_output=True)
    bare = [sys.executable, "-c", "pass"]
    commands = {"version": [*tool, "version", str(repo)], "dump": [*tool, "dump", str(repo)]}
    runs, warmup = settings.runs(30, 8), 3
    times: dict[str, list[float]] = {"bare": [], **{name: [] for name in commands}}
    for i in range(warmup + runs):
        sample = {"bare": _time_run(bare)}
        sample.update({name: _time_run(args) for name, args in commands.items()})
        if i >= warmup:
            for name, value in sample.items():
                times[name].append(value)
    bare_ms = to_ms(median(times["bare"]))
    out = Measured()
    # Clamped at 0: on a noisy machine the tool's median can fall below the bare one.
    over = {name: max(0.0, to_ms(median(times[name])) - bare_ms) for name in commands}
    out.values["refrepo_version_over_python_ms"] = over["version"]
    out.extra["refrepo_dump_over_python_ms"] = over["dump"]
    out.extra["python_c_pass_ms"] = bare_ms
    return out
