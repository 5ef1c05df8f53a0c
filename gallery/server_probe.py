"""Probe a gallery tool on a database server, without migration-harness's contract.

    python gallery/server_probe.py TOOL ENGINE CASE [--rounds N]

TOOL is django, alembic, dbmate or sql-migrate (the sample in gallery/<TOOL>), ENGINE is
postgresql or mariadb, CASE is

  race  4 runs of the tool's own "migrate to the latest" command released together by a
        barrier, from version 0 and from version 1, on a fresh database each round;
  kill  the tool's "migrate to the latest" from version 0, SIGKILLed at a random moment;
        is the database at a version it knows, and does a re-run reach the latest? For
        the Python tools, with strace: also killed as it sends each of its messages to
        the server in turn (strace's own injection).

The server is a throwaway one started with migration_harness.databases (the same programs
the contract starts; nothing of the contract runs). The tools are run as their users run
them: `alembic -c INI upgrade head` with the database's URL in a copy of alembic.ini,
`manage.py migrate notes` with a settings module naming the database, `dbmate --url URL
up`, `sql-migrate up` with a dbconfig naming it. The state after a round is the applied
migrations (the tool's bookkeeping table) and the `notes` table's columns and rows,
compared with a database migrated alone to the latest. The last line is
`VERDICT CASE: DEFECT|OK: evidence`, which gallery/run.py reads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import probelib  # noqa: E402

from migration_harness.databases import Database, DatabaseError, Server, start_server  # noqa: E402

PY = sys.executable
RACERS = 4
#: The tools whose messages to the server come from one thread (Python's drivers).
SINGLE_THREADED = ("alembic", "django")
#: Left out of the project copy the tools run in.
NOT_THE_PROJECT = ("probes", "migration-harness.toml", "__pycache__", "node_modules")


@dataclass
class Driver:
    """How to run one tool on one database: ``argv(db, n)`` migrates to the n-th version
    (``None``: the latest, the deploy's command)."""

    name: str
    versions: list[str]
    bookkeeping: str  # SQL: the applied migrations, one per row, in a stable order
    argv: Callable[[Database, int | None], list[str]]


def _alembic(project: Path, engine: str) -> Driver:
    scheme = "postgresql+pg8000" if engine == "postgresql" else "mysql+pymysql"
    versions = ["1a2b3c4d5e01", "2b3c4d5e6f02", "3c4d5e6f7a03"]

    def argv(db: Database, n: int | None) -> list[str]:
        ini = project / f"alembic-{db.name}.ini"
        if not ini.exists():
            text = (project / "alembic.ini").read_text(encoding="utf-8")
            url = f"{scheme}://{db.user}@{db.host}:{db.port}/{db.name}"
            lines = [
                f"sqlalchemy.url = {url}" if ln.startswith("sqlalchemy.url") else ln
                for ln in text.splitlines()
            ]
            ini.write_text("\n".join(lines) + "\n", encoding="utf-8")
        target = "head" if n is None else (versions[n - 1] if n else "base")
        return [PY, "-m", "alembic", "-c", str(ini), "upgrade", target]

    return Driver("alembic", versions, "SELECT version_num FROM alembic_version", argv)


def _django(project: Path, engine: str) -> Driver:
    versions = ["0001_initial", "0002_note_slug", "0003_fill_slug"]

    def argv(db: Database, n: int | None) -> list[str]:
        module = f"probe_settings_{db.name}"
        settings = project / f"{module}.py"
        if not settings.exists():
            database = {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": db.name,
                "HOST": db.host,
                "PORT": str(db.port),
                "USER": db.user,
            }
            settings.write_text(
                "from notesite.settings import *  # noqa: F403\n"
                f"DATABASES = {{'default': {json.dumps(database)}}}\n",
                encoding="utf-8",
            )
        target = [] if n is None else [versions[n - 1] if n else "zero"]
        return [PY, "manage.py", "migrate", "--no-input", "notes", *target, "--settings", module]

    query = "SELECT name FROM django_migrations WHERE app = 'notes' ORDER BY name"
    return Driver("django", versions, query, argv)


def _dbmate(project: Path, engine: str) -> Driver:
    binary = next((probelib.TOOLS / "node_modules" / "@dbmate").glob("*/bin/dbmate"))
    migrations = sorted((project / "db" / "migrations").iterdir())
    versions = [f.name.split("_", 1)[0] for f in migrations]

    def argv(db: Database, n: int | None) -> list[str]:
        directory = project / "db" / "migrations"
        if n is not None:
            directory = project / f"upto-{n}"
            if not directory.exists():
                directory.mkdir()
                for file in migrations[:n]:
                    shutil.copy(file, directory)
        base = [str(binary), "--url", db.url, "--migrations-dir", str(directory)]
        return [*base, "--no-dump-schema", "up"]

    query = "SELECT version FROM schema_migrations ORDER BY version"
    return Driver("dbmate", versions, query, argv)


def _sql_migrate(project: Path, engine: str) -> Driver:
    versions = ["1_create_notes.sql", "2_add_slug.sql", "3_fill_slug.sql"]

    def argv(db: Database, n: int | None) -> list[str]:
        config = project / f"dbconfig-{db.name}.yml"
        if not config.exists():
            if engine == "postgresql":
                dialect = "postgres"
                source = f"host={db.host} port={db.port} user={db.user} dbname={db.name}"
                source += " sslmode=disable"
            else:
                dialect = "mysql"
                source = f"{db.user}@tcp({db.host}:{db.port})/{db.name}?parseTime=true"
            environment = {"dialect": dialect, "datasource": source, "dir": "migrations"}
            config.write_text(json.dumps({"probe": environment}), encoding="utf-8")
        limit = [] if n is None else [f"-limit={n}"]
        return ["sql-migrate", "up", f"-config={config}", "-env=probe", *limit]

    query = "SELECT id FROM gorp_migrations ORDER BY id"
    return Driver("sql-migrate", versions, query, argv)


DRIVERS = {"alembic": _alembic, "django": _django, "dbmate": _dbmate, "sql-migrate": _sql_migrate}


class Probe:
    def __init__(self, tool: str, server: Server, scratch: Path) -> None:
        self.project = scratch / tool
        shutil.copytree(HERE / tool, self.project, ignore=shutil.ignore_patterns(*NOT_THE_PROJECT))
        self.engine = server.engine
        self.driver = DRIVERS[tool](self.project, self.engine)
        self.server = server
        reference = self.database_at(None)
        self.latest = self.state(reference)

    def say(self, text: str) -> None:
        print(probelib.anonymize(text), flush=True)

    def database_at(self, n: int | None) -> Database:
        db = self.server.create_database()
        if n != 0:
            result = self.run(self.driver.argv(db, n))
            if result.rc != 0:
                raise SystemExit(f"could not create a database at v{n}:\n{result.show()}")
        return db

    def run(self, argv: list[str]) -> probelib.Run:
        return probelib.run(argv, self.project, {}, probelib.RUN_TIMEOUT_S)

    def state(self, db: Database) -> str:
        """The applied migrations and the notes table (columns, rows), or what failed."""
        try:
            applied = db.sql(self.driver.bookkeeping).split()
        except DatabaseError:  # no bookkeeping table yet: nothing applied
            applied = []
        try:
            lines = db.sql("SELECT * FROM notes ORDER BY id").strip().splitlines()
            rows = [line.replace("\t", " | ") for line in lines]
        except DatabaseError:
            rows = ["(no notes table)"]
        return f"applied {applied}; notes {rows}"

    def race(self, rounds: int) -> None:
        command = " ".join(self.driver.argv(self.database_at(0), None))
        self.say(f"## race on {self.engine}: {RACERS} x `{command}` together, {rounds} rounds")
        problems = []
        for start in (0, 1):
            broken, kinds = 0, Counter[str]()
            for number in range(1, rounds + 1):
                db = self.database_at(start)
                runs = self._race_once(db)
                state = self.state(db)
                failed = [r for r in runs if r.rc != 0]
                for r in failed:
                    kinds[f"exit {r.rc}: {probelib.first_error_line(r.out)}"] += 1
                if state != self.latest:
                    kinds[f"end state: {state}"] += 1
                broken += bool(failed) or state != self.latest
                exits = [r.rc for r in runs]
                self.say(f"round {number} from v{start}: exits {exits}; {state}")
            self.say(f"=> from v{start}: {broken}/{rounds} rounds broken; by kind:")
            for kind, count in kinds.most_common():
                self.say(f"   {count:3d} x {kind}")
            if broken:
                top = kinds.most_common(1)[0][0]
                problems.append(f"from v{start}: {broken}/{rounds} rounds broken, e.g. {top}")
        evidence = "; ".join(problems) or "every round reached the latest, no error"
        probelib.verdict("race", bool(problems), evidence)

    def _race_once(self, db: Database) -> list[probelib.Run]:
        with tempfile.TemporaryDirectory() as tmp:
            go = Path(tmp) / "go"
            argv = self.driver.argv(db, None)
            procs = [
                subprocess.Popen(
                    probelib.barrier_argv(go, argv),
                    cwd=self.project,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for _ in range(RACERS)
            ]
            time.sleep(1.0)  # every racer's interpreter is up and polling
            started = time.monotonic()
            go.touch()
            runs = []
            for proc in procs:
                out, _ = proc.communicate(timeout=probelib.RUN_TIMEOUT_S)
                runs.append(probelib.Run(argv, proc.returncode, out, time.monotonic() - started))
            return runs

    def kill(self, rounds: int) -> None:
        timings = []
        for _ in range(3):
            db = self.database_at(0)
            timings.append(self.run(self.driver.argv(db, None)).seconds)
        full = min(timings)
        self.say(f"## kill on {self.engine}: a full run from v0 takes {full:.2f} s")
        known = [self.state(self.database_at(n)) for n in range(len(self.driver.versions))]
        valid = recovered = 0
        for number in range(1, rounds + 1):
            db = self.database_at(0)
            delay = random.uniform(0, full)
            proc = subprocess.Popen(
                self.driver.argv(db, None),
                cwd=self.project,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            time.sleep(delay)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            after = self.state(db)
            ok = after in (*known, self.latest)
            valid += ok
            rerun = self.run(self.driver.argv(db, None))
            final = self.state(db)
            recovered += rerun.rc == 0 and final == self.latest
            self.say(
                f"round {number}: killed after {delay:.2f} s: {after} (a version's state: "
                f"{ok}) | re-run exit {rerun.rc}: {probelib.first_error_line(rerun.out)}"
            )
        evidence = (
            f"a version's state after the kill {valid}/{rounds}, re-run reached the latest "
            f"{recovered}/{rounds}"
        )
        broken_sends = self._kill_at_each_send(known)
        if broken_sends is not None:
            evidence += f"; {broken_sends}"
        defect = valid < rounds or recovered < rounds or "broken" in (broken_sends or "")
        probelib.verdict("kill", defect, evidence)

    def _kill_at_each_send(self, known: list[str]) -> str | None:
        """With plain strace: kill the tool as it sends its n-th message to the server, for
        every n. Single-threaded tools only (strace counts per thread: a Go program sends
        from whichever thread runs, so the n-th differs between runs)."""
        if self.driver.name not in SINGLE_THREADED or shutil.which("strace") is None:
            return None
        traced = ["strace", "-f", "-qqq", "-e", "trace=sendto", "-o"]
        base = [*traced, os.devnull]
        with tempfile.TemporaryDirectory() as tmp:
            trace = Path(tmp) / "trace"
            self.run([*traced, str(trace), *self.driver.argv(self.database_at(0), None)])
            sends = sum(1 for line in trace.read_text().splitlines() if "sendto(" in line)
        broken = []
        for n in range(1, sends + 1):
            db = self.database_at(0)
            self.run(
                [*base, "-e", f"inject=sendto:signal=KILL:when={n}", *self.driver.argv(db, None)]
            )
            after = self.state(db)
            rerun = self.run(self.driver.argv(db, None))
            if after not in (*known, self.latest) or rerun.rc != 0:
                said = probelib.first_error_line(rerun.out)
                broken.append(
                    f"killed as it sent message {n}: {after}; re-run exit {rerun.rc}: {said}"
                )
                self.say(f"send {n}: {broken[-1]}")
        each = f"killed as it sent each of its {sends} messages"
        if broken:
            return f"{each}: {len(broken)} broken, e.g. {broken[0]}"
        return f"{each}: none broken"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tool", choices=sorted(DRIVERS))
    parser.add_argument("engine", choices=("postgresql", "mariadb"))
    parser.add_argument("case", choices=("race", "kill"))
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--kills", type=int, default=0, help="ignored (run.py passes it)")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory(prefix="mh-server-probe-")
    with scratch, start_server(args.engine) as server:
        probe = Probe(args.tool, server, Path(scratch.name))
        if args.case == "race":
            probe.race(args.rounds)
        else:
            probe.kill(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
