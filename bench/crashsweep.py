"""``sweep_catch_*``: how often the time-sweep crash backend catches the crash mutants.

The sweep backend is probabilistic (it kills at moments, not at calls), so the
figure is a rate: of N runs of ``migration-harness check --contract crash
--crash-backend sweep`` against a mutant of the reference tool, the share that
failed the crash contract. strace and the hook catch both mutants every run;
these rates say how far the any-OS fallback is behind them.
"""

from __future__ import annotations

import subprocess

from bench.common import Measured, Settings, scripts_env

__all__ = ["measure_sweep_catch"]

MUTANT_KEYS = {
    "inplace-config": "sweep_catch_inplace_config_rate",
    "version-first": "sweep_catch_version_first_rate",
}
CAUGHT, NOT_CAUGHT = 1, 0


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
    command = [
        settings.python,
        "-m",
        "migration_harness",
        "check",
        "--mutant",
        mutant,
        "--contract",
        "crash",
        "--crash-backend",
        "sweep",
    ]
    done = subprocess.run(
        command,
        cwd=settings.workdir,
        env=scripts_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (CAUGHT, NOT_CAUGHT):
        tail = (done.stdout + done.stderr)[-2000:]
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{tail}")
    return done.returncode == CAUGHT
