"""``plugin_import_ms``: what the plugin adds to the start of every pytest session.

The plugin loads in every pytest session of a virtualenv that has migration-harness
installed, including sessions that never use it. The figure is the median, over
pairs of back-to-back runs, of the difference between ``pytest --collect-only`` in an
empty directory with and without the plugin (``-p no:migration_harness``): its
imports plus its configure and session hooks. Pairing cancels the drift in the
machine's load that two separate medians of ~250 ms sessions would not. The
detail adds the import of the plugin's modules alone, in an interpreter that has
imported pytest already.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bench.common import Measured, Settings
from bench.stats import median, to_ms

__all__ = ["measure_plugin_import"]

#: The plugin's entry point name (pyproject.toml's ``pytest11``): what ``-p no:`` blocks.
ENTRY_POINT = "migration_harness"
#: Prints the seconds the plugin's modules take to import once pytest is imported.
IMPORT_ONLY = (
    "import time, importlib, pytest\n"
    "started = time.perf_counter()\n"
    "plugin = importlib.import_module('migration_harness.plugin')\n"
    "for name in plugin.BUILDING_BLOCKS:\n"
    "    importlib.import_module(name)\n"
    "print(time.perf_counter() - started)\n"
)
#: pytest's exit status when it collected nothing: the expected outcome here.
NO_TESTS_COLLECTED = 5


def _time_session(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, NO_TESTS_COLLECTED):
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-400:]}")
    return elapsed


def _import_only(python: str, env: dict[str, str]) -> float:
    done = subprocess.run(
        [python, "-c", IMPORT_ONLY], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip())


def measure_plugin_import(settings: Settings) -> Measured:
    # An empty project of its own: no ini file above it adds options or plugins.
    project = settings.workdir / "plugin-startup"
    project.mkdir(parents=True, exist_ok=True)
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    session = [settings.python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    # Byte code cached as on a user's machine: without it, pytest re-compiles (and
    # re-rewrites the asserts of) every module of the plugin's distribution each run.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    runs, warmup = settings.runs(30, 10), 2
    bare: list[float] = []
    with_plugin: list[float] = []
    imports: list[float] = []
    for i in range(warmup + runs):
        sample = (
            _time_session([*session, "-p", f"no:{ENTRY_POINT}"], project, env),
            _time_session(session, project, env),
            _import_only(settings.python, env),
        )
        if i >= warmup:
            bare.append(sample[0])
            with_plugin.append(sample[1])
            imports.append(sample[2])
    out = Measured()
    differences = [plugin - without for plugin, without in zip(with_plugin, bare, strict=True)]
    out.values["plugin_import_ms"] = to_ms(median(differences))
    out.extra["pytest_bare_startup_ms"] = to_ms(median(bare))
    out.extra["plugin_modules_import_ms"] = to_ms(median(imports))
    return out
