"""``concurrent_catch_*``: how often ``check --contract concurrent`` catches a tool whose
racers break each other.

Three tools without a working lock: the reference tool's mutants ``no-lock`` (takes no
lock) and ``give-up-early`` (gives up after three quick retries instead of waiting),
and ``tests/tools/sqlitenolock``, a SQLite migrator without a migration lock (racers
apply a step twice). A race only breaks them when their unguarded steps overlap;
where strace runs, ``concurrent`` slows every racer down on the repo's files so that
they do, and each rate must be at least 0.95. The detail gives the seconds per round
(the case's time over the rounds it ran, the traced planning run included) for each,
and for the reference tool itself, which must pass: with delays and plain.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.common import Measured, Settings, check_fails
from bench.stats import median

__all__ = ["KEYS", "SQLITE_SPEC", "measure_race_catch"]

TOOLS = Path(__file__).resolve().parents[1] / "tests" / "tools"
SQLITE_SPEC = TOOLS / "sqlitenolock" / "migration-harness.toml"
# tool -> (results.json key, the arguments that select it)
KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "no-lock": ("concurrent_catch_no_lock", ("--mutant", "no-lock")),
    "give-up-early": ("concurrent_catch_give_up_early", ("--mutant", "give-up-early")),
    "sqlitenolock": ("concurrent_catch_sqlite_nolock", ("--config", str(SQLITE_SPEC))),
}
TIMEOUT_S = 900.0
# "round 2 of 3 (strace delays; round 1 passed): ..." or "3 rounds of 4 racers (plain)"
_BROKEN = re.compile(r"^round (?P<rounds>\d+) of \d+ \((?P<racing>[^;:)]*)")
_PASSED = re.compile(r"^(?P<rounds>\d+) rounds of \d+ racers \((?P<racing>[^:)]*)")


def measure_race_catch(settings: Settings) -> Measured:
    runs = settings.runs(full=20, quick=5)
    out = Measured()
    round_s: dict[str, float] = {}
    racings: set[str] = set()
    for tool, (key, selection) in KEYS.items():
        outcomes = [_check(settings, selection) for _ in range(runs)]
        caught = sum(outcome.caught for outcome in outcomes)
        out.values[key] = caught / runs
        broken_in = sorted(outcome.rounds for outcome in outcomes if outcome.caught)
        out.extra[key] = {"caught": caught, "runs": runs, "broken_in_round": broken_in}
        round_s[tool] = median([outcome.round_s for outcome in outcomes])
        racings.update(outcome.racing for outcome in outcomes)
    for selection in _reference_runs(settings):
        outcome = _check(settings, selection)
        if outcome.caught:
            raise RuntimeError(f"the reference tool failed concurrent: {outcome.message}")
        round_s[f"reference ({outcome.racing})"] = outcome.round_s
    out.extra["concurrent_round_s"] = round_s
    out.notes["concurrent_catch_no_lock"] = (
        f"share of {runs} `check --contract concurrent` runs that failed each tool (3 rounds "
        f"of 4 racers; racing: {', '.join(sorted(racings))}); seconds per round: "
        + ", ".join(f"{tool} {seconds:.1f}" for tool, seconds in round_s.items())
    )
    return out


class _Outcome:
    def __init__(self, caught: bool, message: str, seconds: float) -> None:
        match = (_BROKEN if caught else _PASSED).match(message)
        if match is None:
            raise RuntimeError(f"concurrent's message names no round: {message!r}")
        self.caught, self.message, self.racing = caught, message, match["racing"]
        self.rounds = int(match["rounds"])
        self.round_s = seconds / self.rounds


def _check(settings: Settings, selection: tuple[str, ...]) -> _Outcome:
    report = settings.workdir / "race-report.json"
    args = [*selection, "--contract", "concurrent", "--report-json", str(report)]
    caught = check_fails(settings, args, timeout=TIMEOUT_S)
    (row,) = json.loads(report.read_text(encoding="utf-8"))["results"]
    return _Outcome(caught, row["message"], row["duration"])


def _reference_runs(settings: Settings) -> list[tuple[str, ...]]:
    """The reference tool as it is, and (its spec copied) with ``delays = "off"``."""
    from migration_harness.target import REFERENCE_SPEC

    text = REFERENCE_SPEC.read_text(encoding="utf-8")
    plain = settings.workdir / "reference-plain.toml"
    plain.write_text(
        re.sub(r"(?m)^(concurrent = \{.*?) \}$", r'\1, delays = "off" }', text), encoding="utf-8"
    )
    return [(), ("--config", str(plain))]
