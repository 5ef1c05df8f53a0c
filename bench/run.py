"""``python -m bench.run [--quick] [--only KEY,...] [--out FILE]``: measure, print, write JSON.

Run from the repository root in an environment with the package installed;
``nox -s bench`` does exactly that (and installs Go and mirakuru first). Steps in
``OPT_IN`` run only when named: ``--only windows_leg`` times CI's Windows leg. A run
with ``--only`` keeps the earlier file's figures for the steps it did not run, each with
the date it was measured on (``meta.earlier``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import (
    check_speed,
    concurrency,
    crashsweep,
    daemons,
    databases,
    gobuild,
    gocrash,
    mocks,
    plugin_startup,
    racecatch,
    startup,
    suite_speed,
    windows_leg,
)
from bench.common import Measured, Settings
from bench.schema import REQUIRED_KEYS, format_table, validate_results

DEFAULT_OUT = Path(__file__).with_name("results.json")

# Name -> measurement, in run order. go_build needs mock_build's figure for its ratio.
STEPS: dict[str, Callable[[Settings, Measured], Measured]] = {
    "mock_build": lambda s, _: mocks.measure_mock_build(s),
    "mock_run": lambda s, _: mocks.measure_mock_run(s),
    "go_build": lambda s, m: gobuild.measure_go_build(s, m.values.get("mock_build_ms")),
    "stop_graceful": lambda s, _: daemons.measure_graceful(s),
    "stop_stubborn": lambda s, _: daemons.measure_stubborn(s),
    "concurrent": lambda s, _: concurrency.measure_concurrent(s),
    "race_catch": lambda s, _: racecatch.measure_race_catch(s),
    "sweep_catch": lambda s, _: crashsweep.measure_sweep_catch(s),
    "sweep_window": lambda s, _: crashsweep.measure_sweep_window(s),
    "refrepo_startup": lambda s, _: startup.measure_refrepo_startup(s),
    "plugin_import": lambda s, _: plugin_startup.measure_plugin_import(s),
    "go_crash": lambda s, _: gocrash.measure_go_crash(s),
    "xdist": lambda s, _: suite_speed.measure_xdist(s),
    "check_speed": lambda s, _: check_speed.measure_check_speed(s),
    "servers": lambda s, _: databases.measure_servers(s),
    "check_pg": lambda s, _: databases.measure_check_pg(s),
    "windows_leg": lambda s, _: windows_leg.measure_windows_leg(s),
}
# Steps that run only when named in --only: they take many minutes.
OPT_IN: dict[str, str] = {
    "windows_leg": "opt-in (--only windows_leg): `nox -s windows` takes minutes under Wine",
}
# The results.json keys each step is responsible for (null with a reason if it fails).
STEP_KEYS: dict[str, tuple[str, ...]] = {
    "mock_build": ("mock_build_ms",),
    "mock_run": ("mock_run_ratio",),
    "go_build": ("go_build_ms", "go_build_ratio"),
    "stop_graceful": ("stop_graceful_ms",),
    "stop_stubborn": ("stop_stubborn_s", "mirakuru_stop_stubborn_s"),
    "concurrent": ("concurrent_ratio",),
    "race_catch": tuple(key for key, _selection in racecatch.KEYS.values()),
    "sweep_catch": tuple(crashsweep.MUTANT_KEYS.values()),
    "sweep_window": (crashsweep.WINDOW_KEY,),
    "refrepo_startup": ("refrepo_version_over_python_ms",),
    "plugin_import": ("plugin_import_ms",),
    "go_crash": ("go_crash_clean_rate",),
    "xdist": ("xdist_speedup",),
    "check_speed": (
        "check_ref_serial_s",
        "check_ref_parallel_s",
        "check_parallel_ratio",
        "check_harness_share",
    ),
    "servers": ("pg_start_s", "pg_db_ms", "mariadb_start_s"),
    "check_pg": ("check_pg_s",),
    "windows_leg": ("windows_leg_min",),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats; skip xdist_speedup")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results file (JSON)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated steps to run, from: {', '.join(STEPS)}"
    )
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(STEPS))
    if unknown:
        parser.error(f"--only: unknown step(s) {', '.join(unknown)}; known: {', '.join(STEPS)}")
    args.steps = only or [name for name in STEPS if name not in OPT_IN]
    return args


def run_steps(settings: Settings, steps: Sequence[str]) -> Measured:
    measured = Measured()
    for name in steps:
        print(f"bench: {name} ...", flush=True)
        try:
            measured.merge(STEPS[name](settings, measured))
        except Exception as exc:  # one broken measurement must not lose the others
            traceback.print_exc()
            for key in STEP_KEYS[name]:
                measured.values[key] = None
                measured.skipped[key] = f"{name} failed: {type(exc).__name__}: {exc}"
    return measured


def build_results(measured: Measured, settings: Settings) -> dict[str, Any]:
    results: dict[str, Any] = {key: measured.values.get(key) for key in REQUIRED_KEYS}
    skipped = dict(measured.skipped)
    opt_in = {key: OPT_IN[step] for step in OPT_IN for key in STEP_KEYS[step]}
    for key in REQUIRED_KEYS:
        if results[key] is None and key not in skipped:
            skipped[key] = opt_in.get(key, "not run (--only)")
    results.update(
        {
            "skipped": skipped,
            "notes": measured.notes,
            "detail": measured.extra,
            "meta": {
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "platform": sys.platform,
                "machine": platform.machine(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                "quick": settings.quick,
            },
        }
    )
    return results


def keep_earlier(results: dict[str, Any], earlier: dict[str, Any], ran: Sequence[str]) -> list[str]:
    """Put the figures of an earlier results file back for the steps this run did not run
    (``--only``), each with its note and, in ``meta["earlier"]``, the date it was measured
    on; returns the keys kept. A key the earlier run had no figure for stays as it is."""
    when = earlier.get("meta", {}).get("date", "an earlier run")
    dates = earlier.get("meta", {}).get("earlier", {})
    kept = []
    for step, keys in STEP_KEYS.items():
        if step in ran:
            continue
        for key in keys:
            if results.get(key) is not None or earlier.get(key) is None:
                continue
            results[key] = earlier[key]
            results["skipped"].pop(key, None)
            if key in earlier.get("notes", {}):
                results["notes"][key] = earlier["notes"][key]
            results["meta"].setdefault("earlier", {})[key] = dates.get(key, when)
            kept.append(key)
    return kept


def _earlier(path: Path) -> dict[str, Any] | None:
    """The results file a run with --only adds to, if there is a valid one."""
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return earlier if isinstance(earlier, dict) and not validate_results(earlier) else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="mh-bench-"))
    settings = Settings(workdir=workdir, quick=args.quick)
    try:
        measured = run_steps(settings, args.steps)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results = build_results(measured, settings)
    earlier = _earlier(args.out) if args.only else None
    kept = keep_earlier(results, earlier, args.steps) if earlier is not None else []
    problems = validate_results(results)
    if problems:
        print("bench: results do not match the schema:\n  " + "\n  ".join(problems))
        return 1
    args.out.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print()
    print(format_table(results))
    for key, note in {**results["notes"], **results["skipped"]}.items():
        print(f"  {key}: {note}")
    if kept:
        print(f"bench: kept from the earlier {args.out.name}: {', '.join(kept)}")
    print(f"bench: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
