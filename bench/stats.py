"""Timing helpers: warm-up, repeat, median. Pure functions, no processes.

Medians and not means: a shared 2-core machine has rare long stalls (another job,
a page cache flush) that would drag a mean far from the typical cost.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Sample", "median", "ratio", "repeat", "to_ms"]


@dataclass(frozen=True)
class Sample:
    """Timings (seconds) of the measured runs; the warm-up runs are counted, not kept."""

    times: tuple[float, ...]
    warmup: int

    @property
    def median(self) -> float:
        return median(self.times)

    @property
    def low(self) -> float:
        return min(self.times)

    @property
    def high(self) -> float:
        return max(self.times)


def median(values: Sequence[float]) -> float:
    """The median; a clear error (not StatisticsError) for no values."""
    if not values:
        raise ValueError("median of no measurements: every run was skipped or failed")
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, refusing a zero or negative denominator."""
    if denominator <= 0:
        raise ValueError(f"cannot form a ratio over {denominator!r}: expected a positive time")
    return numerator / denominator


def to_ms(seconds: float) -> float:
    return seconds * 1000.0


def repeat(
    action: Callable[[int], float | None],
    *,
    runs: int,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> Sample:
    """Call ``action(i)`` ``warmup`` times unmeasured, then ``runs`` times measured.

    ``action`` may return its own duration in seconds (when only part of what it
    does is the thing measured); if it returns None, the whole call is timed with
    ``clock``. ``i`` counts from 0 over warm-up and measured calls together, so
    each call can use a fresh name or directory.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for i in range(warmup):
        action(i)
    times: list[float] = []
    for i in range(warmup, warmup + runs):
        started = clock()
        reported = action(i)
        times.append(clock() - started if reported is None else reported)
    return Sample(times=tuple(times), warmup=warmup)
