"""``sweep_catch_*``: how often the time-sweep crash backend catches the crash mutants;
``sweep_window_hit_rate``: how often its kill lands in a known window after a slow start.

The sweep backend is probabilistic (it kills at moments, not at calls), so the
figure is a rate: of N runs of ``migration-harness check --contract crash
--crash-backend sweep`` against a mutant of the reference tool, the share that
failed the crash contract. strace and the hook catch both mutants every run;
these rates say how far the any-OS fallback is behind them.

The window rate is the timing half of the test suite's sweep tests, which check the
aim deterministically: a program starts up for 1 s, truncates its data and leaves it
empty for 0.4 s; the sweep times one run and kills a second, identical run in the
pause it planned there. The share of kills that found the data empty is the rate;
load (jitter in start-up and in the watcher's looks) is what lowers it.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from bench.common import Measured, Settings, check_fails
from migration_harness.crash import SweepBackend

__all__ = ["measure_sweep_catch", "measure_sweep_window"]

MUTANT_KEYS = {
    "inplace-config": "sweep_catch_inplace_config_rate",
    "version-first": "sweep_catch_version_first_rate",
}


def measure_sweep_catch(settings: Settings) -> Measured:
    runs = settings.runs(full=10, quick=3)
    measured = Measured()
    for mutant, key in MUTANT_KEYS.items():
        caught = sum(_caught(settings, mutant) for _ in range(runs))
        measured.values[key] = caught / runs
        measured.extra[key] = {"caught": caught, "runs": runs}
    measured.notes["sweep_catch_inplace_config_rate"] = (
        f"share of {runs} sweep runs (K=8) that failed the crash contract; strace and hook: 1.0"
    )
    return measured


def _caught(settings: Settings, mutant: str) -> bool:
    args = ["--mutant", mutant, "--contract", "crash", "--crash-backend", "sweep"]
    return check_fails(settings, args)


WINDOW_KEY = "sweep_window_hit_rate"
WINDOW_START_UP_S, WINDOW_S = 1.0, 0.4
OLD_DATA = b"old data\n"
SLOW_START_IN_PLACE = f"""
import os, sys, time
time.sleep({WINDOW_START_UP_S})
with open(os.path.join(sys.argv[1], "data"), "wb") as f:
    f.flush()
    time.sleep({WINDOW_S})
    f.write(b"new data\\n")
"""


def measure_sweep_window(settings: Settings) -> Measured:
    runs = settings.runs(full=20, quick=5)
    program = settings.workdir / "slow_start_in_place.py"
    program.write_text(textwrap.dedent(SLOW_START_IN_PLACE), encoding="utf-8")
    repo = settings.workdir / "window-repo"
    hits = sum(_kill_lands_in_the_window(settings, program, repo) for _ in range(runs))
    measured = Measured()
    measured.values[WINDOW_KEY] = hits / runs
    measured.extra[WINDOW_KEY] = {"hits": hits, "runs": runs, "window_s": WINDOW_S}
    measured.notes[WINDOW_KEY] = (
        f"share of {runs} sweep kills aimed at a {WINDOW_S * 1000:.0f} ms window after a "
        f"{WINDOW_START_UP_S:.0f} s start-up that found the data empty"
    )
    return measured


def _kill_lands_in_the_window(settings: Settings, program: Path, repo: Path) -> bool:
    args = [settings.python, str(program), str(repo)]
    backend = SweepBackend(slices=4)
    points = backend.enumerate(args, cwd=settings.workdir, repo=_fresh(repo), timeout=60)
    pauses = [p for p in points if p.burst == 1 and "in the pause after" in p.detail]
    if len(pauses) != 1:  # the timed run's two changes ran together: no aim at all
        print(f"bench: sweep_window: bursts {backend.bursts}, no pause to aim at", file=sys.stderr)
        return False
    backend.crash_at(pauses[0], args, cwd=settings.workdir, repo=_fresh(repo), timeout=60)
    return (repo / "data").read_bytes() == b""


def _fresh(repo: Path) -> Path:
    repo.mkdir(exist_ok=True)
    for item in repo.iterdir():
        item.unlink()
    (repo / "data").write_bytes(OLD_DATA)
    return repo
