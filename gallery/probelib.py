"""Probes of a real migration tool's behaviour, without migration-harness.

Each tool's gallery/<tool>/probes/probe.py describes how to drive the tool (an Adapter) and
calls main(); this module runs the cases on that adapter and prints the exact commands run,
their exit codes and output, and a one-line verdict per case:

  held-lock   another process holds a SQLite write transaction (BEGIN IMMEDIATE) on the
              database while `migrate` runs: does it wait, for how long, fail or corrupt?
  stale-lock  the lock holder is SIGKILLed, then `migrate` runs again.
  future      the database records a migration the tool does not know; `migrate` runs.
  race        4 `migrate` processes released together by a barrier, from version 0 and 1.
  kill        `migrate` SIGKILLed at a random moment; is the database at a valid version,
              and does a re-run reach the latest?
  dump        the canonical dump per version, and whether a reverted database matches one
              created directly at that version.

Tools are found under $GALLERY_TOOLS (default gallery/.tools): venv/ (Django, alembic) and
node_modules/ (dbmate); sql-migrate on PATH. Written by hand: no library drives four migration
tools and inspects their bookkeeping the same way.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GALLERY = Path(__file__).resolve().parent
TOOLS = Path(os.environ.get("GALLERY_TOOLS", GALLERY / ".tools"))
# The Python tools' executables: a venv under $GALLERY_TOOLS, or one named by
# $GALLERY_VENV_BIN (nox -s gallery runs the probes with its own session's venv).
VENV_BIN = Path(os.environ.get("GALLERY_VENV_BIN", TOOLS / "venv" / "bin"))
HOLD_LONG_S = 20.0  # longer than any tool's default busy timeout we know of (5 s)
HOLD_SHORT_S = 2.0  # shorter than it: a tool that waits should then succeed
RUN_TIMEOUT_S = 120.0


@dataclass
class Adapter:
    name: str
    cwd: Path
    versions: list[str]  # the tool's own names, oldest first
    table: str  # the bookkeeping table
    migrate: list[str]  # argv: migrate to the latest version
    env: Callable[[Path], dict[str, str]]
    create_at: Callable[[Path, int], None]  # build a database at version index n (0 = empty)
    applied: Callable[[sqlite3.Connection], list[str]]  # names recorded as applied, in order
    stamp_future: Callable[[Path], str]  # record an unknown newer migration; returns its name
    extra: dict[str, str] = field(default_factory=dict)
    # other ways to migrate worth trying on a database from the future (e.g. a strict flag)
    future_variants: list[list[str]] = field(default_factory=list)

    def run(self, argv: list[str], db: Path, timeout: float = RUN_TIMEOUT_S) -> Run:
        return run(argv, self.cwd, self.env(db), timeout)


@dataclass
class Run:
    argv: list[str]
    rc: int | None
    out: str
    seconds: float

    def show(self, limit: int = 1500) -> str:
        text = (
            self.out if len(self.out) <= limit else self.out[:600] + "\n[...]\n" + self.out[-800:]
        )
        return (
            f"$ {shlex.join(self.argv)}\n  -> exit {self.rc} after {self.seconds:.2f} s\n"
            + indent(text)
        )


def verdict(case: str, defect: bool, evidence: str) -> None:
    """The case's last line, which `gallery/run.py` reads: did the probe show a defect?"""
    print(f"VERDICT {case}: {'DEFECT' if defect else 'OK'}: {anonymize(evidence)}", flush=True)


def anonymize(text: str) -> str:
    """Logs are committed: name tool and scratch paths by role, not by where they are here."""
    roles = {
        str(TOOLS): "$GALLERY_TOOLS",
        str(TOOLS.resolve()): "$GALLERY_TOOLS",
        str(GALLERY): "gallery",
        tempfile.gettempdir(): "$TMP",
    }
    for path in sorted(roles, key=len, reverse=True):  # longest first: paths nest
        text = text.replace(path, roles[path])
    return text


def indent(text: str) -> str:
    return "".join("  | " + line + "\n" for line in text.rstrip().splitlines())


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> Run:
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        rc = None
    return Run(argv, rc, out, time.monotonic() - start)


# --- reading a database -------------------------------------------------------------------


def connect(db: Path) -> sqlite3.Connection:
    # read-write: after a kill, a hot journal must be rolled back, which any next opener of
    # the database (the tool included) does; a read-only connection cannot
    return sqlite3.connect(db, timeout=30)


def execute(db: Path, sql: str) -> None:
    """Run one statement on db and commit (how the probes stamp bookkeeping rows)."""
    with sqlite3.connect(db) as con:
        con.execute(sql)


def tables(con: sqlite3.Connection) -> list[str]:
    rows = con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
    return [r[0] for r in rows if not r[0].startswith("sqlite_")]


def canonical_dump(db: Path, skip: str) -> str:
    """Schema as column facts (not the CREATE text, which ALTER rewrites) plus ordered rows,
    leaving out the tool's bookkeeping table `skip`."""
    if not db.exists():
        return ""  # version 0: no database yet, same as one holding only bookkeeping
    lines = []
    with connect(db) as con:
        for t in tables(con):
            if t == skip:
                continue
            cols = con.execute(f'PRAGMA table_info("{t}")').fetchall()
            lines.append(
                f"table {t}: "
                + ", ".join(
                    f"{c[1]} {c[2]}{' notnull' if c[3] else ''}"
                    f"{f' default {c[4]}' if c[4] is not None else ''}{' pk' if c[5] else ''}"
                    for c in cols
                )
            )
            for idx in con.execute(f'PRAGMA index_list("{t}")').fetchall():
                lines.append(f"  index {idx[1]} unique={idx[2]}")
            names = ", ".join(f'"{c[1]}"' for c in cols)
            for row in con.execute(f'SELECT {names} FROM "{t}" ORDER BY {names}'):
                lines.append(f"  {row!r}")
    return "\n".join(lines)


def raw_schema(db: Path) -> str:
    with connect(db) as con:
        rows = con.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    return "\n".join(f"{r[0]} {r[1]}: {r[2]}" for r in rows)


def applied_or_empty(adapter: Adapter, db: Path) -> list[str]:
    if not db.exists():
        return []
    with connect(db) as con:
        if adapter.table not in tables(con):
            return []
        return adapter.applied(con)


def version_of(adapter: Adapter, db: Path) -> str:
    """'v<N> <name>' when exactly the first N migrations are recorded once each, else what is
    wrong (duplicates, gaps, unknown names)."""
    names = applied_or_empty(adapter, db)
    dups = {n: c for n, c in Counter(names).items() if c > 1}
    if dups:
        return f"DUPLICATE bookkeeping rows {dups}"
    n = len(names)
    if names == adapter.versions[:n]:
        return f"v{n} {names[-1] if names else '(none)'}"
    return f"INCONSISTENT applied={names}"


# --- cases -------------------------------------------------------------------------------


class Case:
    def __init__(self, adapter: Adapter, scratch: Path) -> None:
        self.a = adapter
        self.scratch = scratch
        self.refs: dict[int, str] = {}
        self.log: list[str] = []

    def say(self, text: str) -> None:
        print(anonymize(text), flush=True)

    def db(self, tag: str) -> Path:
        d = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=self.scratch))
        return d / "notes.db"

    def reference_dumps(self) -> dict[int, str]:
        if not self.refs:
            for n in range(len(self.a.versions) + 1):
                db = self.db(f"ref{n}")
                self.a.create_at(db, n)
                self.refs[n] = canonical_dump(db, self.a.table)
        return self.refs

    def state(self, db: Path) -> str:
        """Version plus whether the data equals that of a database created at that version."""
        version = version_of(self.a, db)
        dump = canonical_dump(db, self.a.table)
        matching = [n for n, ref in self.reference_dumps().items() if ref == dump]
        if version.startswith("v"):
            n = int(version[1:].split()[0])
            ok = n in matching
            return f"{version}; data {'matches' if ok else 'DOES NOT match'} v{n}" + (
                "" if ok else f" (matches {matching or 'no version'})"
            )
        return f"{version}; data matches {matching or 'no version'}"


def hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """A separate process holding BEGIN IMMEDIATE on db; returns once the lock is taken."""
    code = (
        "import sqlite3, sys, time\n"
        "con = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "con.execute('BEGIN IMMEDIATE')\n"
        "print('held', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "con.execute('ROLLBACK')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def case_held_lock(c: Case) -> None:
    c.say(f"## held-lock ({c.a.name}): BEGIN IMMEDIATE held by another process, db at v1")
    problems: list[str] = []
    for hold in (HOLD_SHORT_S, HOLD_LONG_S):
        db = c.db("held")
        c.a.create_at(db, 1)
        holder = hold_write_lock(db, hold)
        r = c.a.run(c.a.migrate, db)
        holder.wait()
        c.say(f"### lock held for {hold:.0f} s\n{r.show()}")
        state = c.state(db)
        c.say(f"after: {state}; traceback in output: {'Traceback' in r.out}")
        if "Traceback" in r.out:
            problems.append(
                f"held {hold:.0f} s: exit {r.rc} with a traceback: " + first_error_line(r.out)
            )
        if r.rc != 0 and not state.startswith("v1 "):
            problems.append(f"held {hold:.0f} s: exit {r.rc} and the database changed: {state}")
        again = c.a.run(c.a.migrate, db)
        c.say(f"re-run after release: exit {again.rc}; {c.state(db)}\n")
        if hold == HOLD_LONG_S and not problems:
            verdict(
                "held-lock", False, f"held {hold:.0f} s: exit {r.rc}: " + first_error_line(r.out)
            )
    if problems:
        verdict("held-lock", True, problems[0])


def case_stale_lock(c: Case) -> None:
    c.say(f"## stale-lock ({c.a.name})")
    db = c.db("stale")
    c.a.create_at(db, len(c.a.versions))
    with connect(db) as con:
        c.say("tables after a full migrate: " + ", ".join(tables(con)))
    c.say("files beside the database: " + ", ".join(sorted(p.name for p in db.parent.iterdir())))
    c.say("the tool keeps no lock table, row or file of its own; the only lock is SQLite's.")
    db = c.db("stale")
    c.a.create_at(db, 1)
    holder = hold_write_lock(db, 600)
    holder.kill()
    holder.wait()
    c.say("SQLite write lock holder SIGKILLed while holding BEGIN IMMEDIATE:")
    r = c.a.run(c.a.migrate, db)
    state = c.state(db)
    c.say(f"{r.show()}after: {state}\n")
    latest = len(c.a.versions)
    fine = r.rc == 0 and state.startswith(f"v{latest} ")
    verdict("stale-lock", not fine, f"migrate after the holder was killed: exit {r.rc}; {state}")


def case_future(c: Case) -> None:
    c.say(f"## future ({c.a.name}): the database records a migration the tool does not know")
    latest = len(c.a.versions)
    problems = [
        problem
        for argv in [c.a.migrate, *c.a.future_variants]
        for start in (latest, latest - 1)
        if (problem := future_once(c, argv, start))
    ]
    verdict("future", bool(problems), problems[0] if problems else "no data changed, no traceback")


def future_once(c: Case, argv: list[str], start: int) -> str:
    """What went wrong ('' if nothing) when migrating a database from the future."""
    db = c.db("future")
    c.a.create_at(db, start)
    name = c.a.stamp_future(db)
    before = canonical_dump(db, c.a.table)
    c.say(f"### at v{start}, stamped {name!r}; applied = {applied_or_empty(c.a, db)}")
    r = c.a.run(argv, db)
    after = canonical_dump(db, c.a.table)
    c.say(r.show())
    c.say(
        f"after: applied = {applied_or_empty(c.a, db)}; data changed: {before != after}; "
        f"traceback in output: {'Traceback' in r.out}\n"
    )
    if "Traceback" in r.out:
        return f"at v{start} + {name}: exit {r.rc} with a traceback: {first_error_line(r.out)}"
    if before != after and r.rc != 0:
        return f"at v{start} + {name}: exit {r.rc}, and the data changed"
    return ""


def barrier_argv(go: Path, argv: list[str]) -> list[str]:
    """argv run after `go` appears: the racers are all started and waiting, then released."""
    code = (
        "import os, sys, time\n"
        "while not os.path.exists(sys.argv[1]): time.sleep(0.001)\n"
        "os.execvp(sys.argv[2], sys.argv[2:])\n"
    )
    return [sys.executable, "-c", code, str(go), *argv]


def race_once(c: Case, db: Path, racers: int) -> list[Run]:
    go = db.parent / "go"
    procs = []
    for _ in range(racers):
        procs.append(
            subprocess.Popen(
                barrier_argv(go, c.a.migrate),
                cwd=c.a.cwd,
                env={**os.environ, **c.a.env(db)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    time.sleep(1.0)  # all interpreters up and polling
    start = time.monotonic()
    go.touch()
    runs = []
    for p in procs:
        out, _ = p.communicate(timeout=RUN_TIMEOUT_S)
        runs.append(Run(c.a.migrate, p.returncode, out, time.monotonic() - start))
    return runs


#: Words of a line that says what went wrong.
ERROR_KEYS = ("Error", "error:", "locked", "already", "duplicate", "UNIQUE", "FAILED", "failed")


def first_error_line(out: str) -> str:
    """The line that says what went wrong: the last exception or error message."""
    lines = [
        ln.strip()
        for ln in out.splitlines()
        if any(k in ln for k in ERROR_KEYS) and not ln.startswith(("(Background", "  File"))
    ]
    if lines:
        return lines[-1][:180]
    return out.strip().splitlines()[-1][:180] if out.strip() else ""


def case_race(c: Case, rounds: int, racers: int = 4) -> None:
    c.say(
        f"## race ({c.a.name}): {racers} x `{shlex.join(c.a.migrate)}` released together, "
        f"{rounds} rounds from v0 and from v1"
    )
    latest = len(c.a.versions)
    problems: list[str] = []
    for start in (0, 1):
        broken = 0
        kinds: Counter[str] = Counter()
        example: Run | None = None
        for i in range(rounds):
            db = c.db(f"race{start}")
            c.a.create_at(db, start)
            runs = race_once(c, db, racers)
            state = c.state(db)
            failed = [r for r in runs if r.rc != 0]
            tb = sum("Traceback" in r.out or "panic" in r.out for r in runs)
            good = state.startswith(f"v{latest} ") and "DOES NOT" not in state and not failed
            broken += not good
            for r in failed:
                kinds[f"exit {r.rc}: {first_error_line(r.out)}"] += 1
            if not state.startswith(f"v{latest} ") or "DOES NOT" in state:
                kinds[f"end state: {state}"] += 1
            c.say(
                f"round {i + 1:2d} from v{start}: exits {[r.rc for r in runs]}, "
                f"tracebacks {tb}; {state}"
            )
            if failed and example is None:
                example = failed[0]
        c.say(
            f"=> from v{start}: {broken}/{rounds} rounds broken (a non-zero exit or a wrong "
            f"end state); by kind:"
        )
        for k, n in kinds.most_common():
            c.say(f"   {n:3d} x {k}")
        if example is not None:
            c.say("first failing racer's output:\n" + example.show())
        c.say("")
        if broken:
            top = kinds.most_common(1)[0][0] if kinds else "a wrong end state"
            problems.append(f"from v{start}: {broken}/{rounds} rounds broken, e.g. {top}")
    verdict("race", bool(problems), "; ".join(problems) or "every round reached latest, no error")


def spawn(c: Case, db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        c.a.migrate,
        cwd=c.a.cwd,
        env={**os.environ, **c.a.env(db)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def time_runs(c: Case, runs: int = 3) -> tuple[float, float]:
    """The shortest times (seconds) until the database file appears and until a run from v0
    ends, over a few runs: on a busy machine one run can be several times slower."""
    times = [time_a_run(c) for _ in range(runs)]
    return min(t[0] for t in times), min(t[1] for t in times)


def time_a_run(c: Case) -> tuple[float, float]:
    db = c.db("timing")
    start = time.monotonic()
    p = spawn(c, db)
    first_write = None
    while p.poll() is None:
        if first_write is None and db.exists():
            first_write = time.monotonic() - start
        time.sleep(0.002)
    full = time.monotonic() - start
    return (first_write if first_write is not None else 0.0), full


def case_kill(c: Case, rounds: int) -> None:
    c.say(
        f"## kill ({c.a.name}): SIGKILL to `{shlex.join(c.a.migrate)}` at a random moment, "
        f"from v0, {rounds} rounds"
    )
    first_write, full = time_runs(c)
    c.say(
        f"a full run from v0 takes {full:.2f} s; the database file appears after "
        f"{first_write:.2f} s (start-up before that; shortest of 3 runs): kills are drawn "
        f"from that window"
    )
    latest = len(c.a.versions)
    valid = recovered = landed = 0
    for i in range(rounds):
        db = c.db("kill")
        delay = random.uniform(first_write * 0.9, full)
        p = spawn(c, db)
        time.sleep(delay)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        landed += p.returncode == -signal.SIGKILL
        journal = db.with_name(db.name + "-journal")
        hot = journal.exists() and journal.stat().st_size > 0
        after_kill = c.state(db) + ("; hot journal rolled back on open" if hot else "")
        ok = after_kill.startswith("v") and "DOES NOT" not in after_kill
        valid += ok
        rerun = c.a.run(c.a.migrate, db)
        final = c.state(db)
        rec = rerun.rc == 0 and final.startswith(f"v{latest} ") and "DOES NOT" not in final
        recovered += rec
        c.say(
            f"round {i + 1:2d}: killed after {delay:.3f} s (rc {p.returncode}): {after_kill}"
            f" | re-run exit {rerun.rc}: {final}"
        )
        if not rec:
            c.say(rerun.show())
    c.say(
        f"=> killed mid-run (not already done): {landed}/{rounds}; "
        f"valid version after kill: {valid}/{rounds}; re-run reached v{latest} with "
        f"intact data: {recovered}/{rounds}\n"
    )
    verdict(
        "kill",
        valid < rounds or recovered < rounds,
        f"valid after the kill {valid}/{rounds}, re-run reached latest {recovered}/{rounds}",
    )


def case_dump(c: Case) -> None:
    c.say(f"## dump ({c.a.name}): canonical dump (bookkeeping table `{c.a.table}` left out)")
    refs = c.reference_dumps()
    for n, ref in refs.items():
        c.say(f"### v{n} {c.a.versions[n - 1] if n else '(empty)'}\n{indent(ref)}")
    distinct = len(set(refs.values()))
    c.say(
        f"distinct dumps over v0..v{len(refs) - 1}: {distinct} (the data changes per version "
        f"by design)"
    )
    latest = len(c.a.versions)
    for n in range(latest):
        direct, down = c.db(f"direct{n}"), c.db(f"down{n}")
        c.a.create_at(direct, n)
        c.a.create_at(down, latest)
        c.a.create_at(down, n)  # create_at on an existing database migrates it (down here)
        same_canon = canonical_dump(direct, c.a.table) == canonical_dump(down, c.a.table)
        same_raw = direct.exists() and down.exists() and raw_schema(direct) == raw_schema(down)
        c.say(
            f"v{latest} reverted to v{n}: canonical dump equals direct v{n}: {same_canon}; "
            f"raw sqlite_master equals: {same_raw}"
        )
        if direct.exists() and down.exists() and not same_raw:
            c.say(
                "  direct:\n"
                + indent(raw_schema(direct))
                + "  reverted:\n"
                + indent(raw_schema(down))
            )
    c.say("")


def kill_after_statements(adapter: Adapter, child: str, cases: list[tuple[str, int]]) -> None:
    """For each (marker, start): from a database at version `start`, run `child` (python code
    driving the tool in-process, SIGKILLing itself right after the statement containing
    sys.argv[1]), show the state, then run the tool's migrate again."""
    py = str(VENV_BIN / "python")
    problems: list[str] = []
    for marker, start in cases:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "notes.db"
            adapter.create_at(db, start)
            killed = run([py, "-c", child, marker], adapter.cwd, adapter.env(db), RUN_TIMEOUT_S)
            print(f"## from v{start}, SIGKILL right after the statement containing {marker!r}")
            print(f"killed run: exit {killed.rc}")
            print(f"after kill: {version_of(adapter, db)}")
            print(indent(canonical_dump(db, adapter.table)))
            after_kill = version_of(adapter, db)
            again = adapter.run(adapter.migrate, db)
            print(anonymize(again.show(limit=900)))
            final = version_of(adapter, db)
            print(f"after re-run: {final}\n")
            if again.rc != 0 or not final.startswith(f"v{len(adapter.versions)} "):
                problems.append(
                    f"killed right after {marker!r}: the database reads {after_kill.split(';')[0]}"
                    f", the re-run exits {again.rc}: {first_error_line(again.out)}"
                )
    verdict("kill-after-statement", bool(problems), "; ".join(problems) or "every re-run OK")


def main(adapter: Adapter) -> None:
    parser = argparse.ArgumentParser(description=f"probe {adapter.name}")
    parser.add_argument(
        "cases", nargs="*", default=["dump", "held-lock", "stale-lock", "future", "race", "kill"]
    )
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    random.seed(os.environ.get("PROBE_SEED"))
    with tempfile.TemporaryDirectory(prefix=f"probe-{adapter.name}-") as scratch:
        c = Case(adapter, Path(scratch))
        c.say(f"# {adapter.name}: versions {adapter.versions}; {time.strftime('%Y-%m-%d')}")
        for extra, value in adapter.extra.items():
            c.say(f"{extra}: {value}")
        for name in args.cases:
            {
                "dump": lambda: case_dump(c),
                "held-lock": lambda: case_held_lock(c),
                "stale-lock": lambda: case_stale_lock(c),
                "future": lambda: case_future(c),
                "race": lambda: case_race(c, args.rounds),
                "kill": lambda: case_kill(c, args.kills),
            }[name]()


if __name__ == "__main__":
    # python probelib.py dump DB BOOKKEEPING_TABLE: the canonical dump a preset would use
    if len(sys.argv) != 4 or sys.argv[1] != "dump":
        sys.exit("usage: python probelib.py dump DATABASE BOOKKEEPING_TABLE")
    print(canonical_dump(Path(sys.argv[2]), sys.argv[3]))
