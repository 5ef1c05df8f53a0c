"""``concurrent_ratio``: 8 reference-tool migrators on one repo, released through one barrier.

Each migrator runs the real reference tool with its lock timed from outside
(:mod:`bench._timed_refrepo`). The ideal wall time of N processes that must
serialise on one lock is the spawn (until the first of them can ask for the lock),
plus every critical section back to back, plus the teardown of the last holder
after it let go: ``ideal = first_try + sum(held..free) + last_exit``. The ratio is
``wall / ideal``; what lies above 1.0 is time the lock sat free while someone
waited (backoff sleeps) or CPU contention outside the lock.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.common import Measured, Settings, scripts_env
from bench.stats import median, to_ms
from migration_harness.proc import RunResult, start_together

__all__ = ["Clock", "ideal_and_wall", "measure_concurrent", "parse_clock"]

MIGRATORS = 8
TIMED_TOOL = Path(__file__).with_name("_timed_refrepo.py")
_CLOCK_LINE = re.compile(r"^lockclock(?P<fields>.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Clock:
    """One migrator, in seconds after the barrier's release."""

    tried: float
    held: float | None
    freed: float | None
    ended: float

    @property
    def section(self) -> float:
        if self.held is None or self.freed is None:
            return 0.0
        return self.freed - self.held


def parse_clock(stderr: str, released_at: float, duration: float) -> Clock:
    """The ``lockclock`` line of one migrator, relative to ``released_at``."""
    match = _CLOCK_LINE.search(stderr)
    if match is None:
        raise ValueError(f"no 'lockclock' line in the migrator's stderr: {stderr[-500:]!r}")
    fields = dict(item.split("=", 1) for item in match["fields"].split())
    if "try" not in fields:
        raise ValueError(f"the migrator never asked for the lock: {match[0]!r}")

    def at(name: str) -> float | None:
        return float(fields[name]) - released_at if name in fields else None

    tried = at("try")
    assert tried is not None
    return Clock(tried=tried, held=at("held"), freed=at("free"), ended=duration)


def ideal_and_wall(clocks: list[Clock]) -> tuple[float, float]:
    """(ideal, wall) seconds for one run of migrators; see the module docstring."""
    if not clocks:
        raise ValueError("no migrators")
    first_try = min(clock.tried for clock in clocks)
    last = max((c for c in clocks if c.freed is not None), key=lambda c: c.freed or 0.0)
    assert last.freed is not None
    last_exit = max(0.0, last.ended - last.freed)
    ideal = first_try + sum(clock.section for clock in clocks) + last_exit
    wall = max(clock.ended for clock in clocks)
    return ideal, wall


def _one_run(settings: Settings, index: int) -> tuple[float, float, list[Clock]]:
    env = scripts_env()
    repo = settings.workdir / "concurrent" / f"repo{index}"
    subprocess.run(
        [sys.executable, "-m", "migration_harness.reference", "init", str(repo), "--version", "1"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    command = [sys.executable, str(TIMED_TOOL), "migrate", str(repo), "--to", "4"]
    results = start_together([command] * MIGRATORS, env=env, timeout=300)
    _check(results, repo, env)
    clocks = [parse_clock(r.stderr, r.released_at or 0.0, r.duration) for r in results]
    ideal, wall = ideal_and_wall(clocks)
    return ideal, wall, clocks


def _check(results: list[RunResult], repo: Path, env: dict[str, str]) -> None:
    for result in results:
        if not result.ok:
            raise RuntimeError(f"a migrator failed:\n{result.describe()}")
    version = subprocess.run(
        [sys.executable, "-m", "migration_harness.reference", "version", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    if version != "4":
        raise RuntimeError(f"after {MIGRATORS} migrators {repo} is at version {version!r}, not 4")


def measure_concurrent(settings: Settings) -> Measured:
    runs, warmup = settings.runs(5, 2), 1
    ratios: list[float] = []
    details: list[dict[str, float]] = []
    for i in range(warmup + runs):
        ideal, wall, clocks = _one_run(settings, i)
        if i < warmup:
            continue
        ratios.append(wall / ideal)
        details.append(
            {
                "wall_ms": to_ms(wall),
                "ideal_ms": to_ms(ideal),
                "spawn_ms": to_ms(min(c.tried for c in clocks)),
                "sections_ms": to_ms(sum(c.section for c in clocks)),
                "longest_section_ms": to_ms(max(c.section for c in clocks)),
            }
        )
    out = Measured()
    out.values["concurrent_ratio"] = median(ratios)
    out.extra["concurrent_runs"] = details
    typical = sorted(details, key=lambda d: d["wall_ms"] / d["ideal_ms"])[len(details) // 2]
    out.notes["concurrent_ratio"] = (
        f"{MIGRATORS} migrators 1->4, typical run: wall {typical['wall_ms']:.0f} ms vs ideal "
        f"{typical['ideal_ms']:.0f} ms (spawn {typical['spawn_ms']:.0f} + sections "
        f"{typical['sections_ms']:.0f}, longest {typical['longest_section_ms']:.0f})"
    )
    return out
