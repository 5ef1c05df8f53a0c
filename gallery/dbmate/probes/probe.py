"""Probe dbmate (npm package, prebuilt Go binary) on the sample project.

The probes call the Go binary the npm package ships, not the `dbmate` node wrapper, so a
SIGKILL reaches the process doing the work (see FINDINGS.md for the wrapper).
Run: python gallery/dbmate/probes/probe.py [dump|held-lock|stale-lock|future|race|kill ...]
"""

import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
import probelib  # noqa: E402

PROJECT = HERE.parent
MIGRATIONS = PROJECT / "db" / "migrations"
VERSIONS = ["20250101000001", "20250101000002", "20250101000003"]
BINARY = next((probelib.TOOLS / "node_modules" / "@dbmate").glob("*/bin/dbmate"))
DBMATE = [str(BINARY), "--no-dump-schema"]


def env(db: Path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:{db}"}


def create_at(db: Path, n: int) -> None:
    """dbmate has no target version: migrate with a directory holding the first n files, or
    roll back one at a time."""
    if n == 0 and not db.exists():
        return
    have = len(probelib.applied_or_empty(ADAPTER, db))
    if n >= have:
        with tempfile.TemporaryDirectory() as tmp:
            for f in sorted(MIGRATIONS.iterdir())[:n]:
                shutil.copy(f, tmp)
            r = probelib.run([*DBMATE, "-d", tmp, "up"], PROJECT, env(db), 120)
            assert r.rc == 0, r.show()
    for _ in range(have - n):
        r = probelib.run([*DBMATE, "rollback"], PROJECT, env(db), 120)
        assert r.rc == 0, r.show()


def applied(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY rowid")]


def stamp_future(db: Path) -> str:
    probelib.execute(db, "INSERT INTO schema_migrations (version) VALUES ('20990101000004')")
    return "20990101000004"


ADAPTER = probelib.Adapter(
    name="dbmate",
    cwd=PROJECT,
    versions=VERSIONS,
    table="schema_migrations",
    migrate=[*DBMATE, "up"],
    future_variants=[[*DBMATE, "up", "--strict"]],
    env=env,
    create_at=create_at,
    applied=applied,
    stamp_future=stamp_future,
)

if __name__ == "__main__":
    probelib.main(ADAPTER)
