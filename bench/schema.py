"""The schema of ``bench/results.json``, the performance targets and the table.

``results.json`` is one object. The required keys are numbers (a measurement
skipped on purpose, such as ``xdist_speedup`` under ``--quick``, is ``null`` and
named with its reason in ``"skipped"``). Extra keys carry the detail behind a
figure (cold vs warm Go builds, mirakuru with the same grace, ...); ``"meta"``
says where and when it was measured, ``"notes"`` explains figures per key.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "REQUIRED_KEYS",
    "TARGETS",
    "Target",
    "format_table",
    "target_status",
    "validate_results",
]

REQUIRED_KEYS: tuple[str, ...] = (
    "mock_build_ms",
    "go_build_ms",
    "go_build_ratio",
    "mock_run_ratio",
    "stop_graceful_ms",
    "stop_stubborn_s",
    "mirakuru_stop_stubborn_s",
    "concurrent_ratio",
    "concurrent_catch_no_lock",
    "concurrent_catch_give_up_early",
    "concurrent_catch_sqlite_nolock",
    "sweep_catch_inplace_config_rate",
    "sweep_catch_version_first_rate",
    "sweep_window_hit_rate",
    "refrepo_version_over_python_ms",
    "plugin_import_ms",
    "go_crash_clean_rate",
    "xdist_speedup",
    "check_ref_serial_s",
    "check_ref_parallel_s",
    "check_parallel_ratio",
    "check_harness_share",
    "pg_start_s",
    "pg_db_ms",
    "mariadb_start_s",
    "check_pg_s",
    "windows_leg_min",
)


@dataclass(frozen=True)
class Target:
    """``value <op> bound`` must hold; ``text`` is how the table shows the target."""

    op: str  # "<=" or ">="
    bound: float
    text: str

    def met(self, value: float) -> bool:
        compare: Callable[[float, float], bool] = operator.le if self.op == "<=" else operator.ge
        return compare(value, self.bound)


TARGETS: dict[str, Target] = {
    "mock_build_ms": Target("<=", 5.0, "<= 5 ms"),
    "go_build_ratio": Target(">=", 30.0, ">= 30x"),
    "mock_run_ratio": Target("<=", 1.3, "<= 1.3x"),
    "stop_graceful_ms": Target("<=", 20.0, "<= 20 ms"),
    # The polite steps are bounded by the grace (3 s); the kill of the tree comes after.
    "stop_stubborn_s": Target("<=", 3.5, "<= 3 s grace + kill"),
    "concurrent_ratio": Target("<=", 1.25, "<= 1.25x"),
    # Races found every time: the share of `check --contract concurrent` runs that fail them.
    "concurrent_catch_no_lock": Target(">=", 0.95, ">= 0.95"),
    "concurrent_catch_give_up_early": Target(">=", 0.95, ">= 0.95"),
    "concurrent_catch_sqlite_nolock": Target(">=", 0.95, ">= 0.95"),
    "refrepo_version_over_python_ms": Target("<=", 30.0, "<= 30 ms"),
    # What every pytest session pays once migration-harness is installed, used or not.
    "plugin_import_ms": Target("<=", 10.0, "<= 10 ms"),
    "go_crash_clean_rate": Target(">=", 1.0, "1.0"),
    "xdist_speedup": Target(">=", 1.6, ">= 1.6x"),
    # The whole reference contract as `check` runs it (cases side by side), on a quiet
    # 2-core machine. The serial run is measured beside it for the ratio: it waits about
    # 20 s on its own (a lock held past the tool's wait, racers slowed at their calls).
    "check_ref_parallel_s": Target("<=", 20.0, "<= 20 s quiet"),
    "check_parallel_ratio": Target("<=", 0.6, "<= 0.6x"),
    "check_harness_share": Target("<=", 0.15, "<= 0.15"),
    # A throwaway server per run and a fresh database per case.
    "pg_start_s": Target("<=", 3.0, "<= 3 s"),
    "pg_db_ms": Target("<=", 100.0, "<= 100 ms"),
    # CI's Windows leg, `nox -s windows` (on Linux: under Wine), on a 2-core machine.
    "windows_leg_min": Target("<=", 8.0, "<= 8 min"),
}

_UNITS = {"_ms": "ms", "_s": "s", "_min": "min", "_ratio": "x", "_speedup": "x"}


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def validate_results(results: Mapping[str, Any]) -> list[str]:
    """Every problem with a results object, one readable line each (empty: valid)."""
    problems: list[str] = []
    skipped = results.get("skipped", {})
    if not isinstance(skipped, Mapping):
        problems.append(f'"skipped" must be an object of key -> reason, got {skipped!r}')
        skipped = {}
    for key in REQUIRED_KEYS:
        if key not in results:
            problems.append(f"missing key {key!r}")
            continue
        value = results[key]
        if value is None:
            if key not in skipped:
                problems.append(f'{key!r} is null but "skipped" gives no reason for it')
        elif not _is_number(value):
            problems.append(f"{key!r} must be a finite number, got {value!r}")
        elif float(value) < 0:
            problems.append(f"{key!r} must not be negative, got {value!r}")
    meta = results.get("meta")
    if not isinstance(meta, Mapping):
        problems.append('missing object "meta" (platform, python, cpus, date)')
    return problems


def target_status(key: str, value: float | None) -> str:
    """ "met", "MISSED", "skipped" or "-" (no target: a figure for comparison)."""
    if value is None:
        return "skipped"
    target = TARGETS.get(key)
    if target is None:
        return "-"
    return "met" if target.met(value) else "MISSED"


def _unit(key: str) -> str:
    for suffix, unit in _UNITS.items():
        if key.endswith(suffix):
            return unit
    return ""


def _format_value(key: str, value: Any) -> str:
    if value is None:
        return "skipped"
    if not _is_number(value):
        return str(value)
    number = float(value)
    text = f"{number:.3g}" if abs(number) < 100 else f"{number:.0f}"
    return f"{text} {_unit(key)}".strip()


def format_table(results: Mapping[str, Any]) -> str:
    """The required keys as a fixed-width table: figure, target, status."""
    rows = [("figure", "value", "target", "status")]
    for key in REQUIRED_KEYS:
        value = results.get(key)
        target = TARGETS.get(key)
        rows.append(
            (
                key,
                _format_value(key, value),
                target.text if target else "(comparison)",
                target_status(key, value if _is_number(value) else None),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
