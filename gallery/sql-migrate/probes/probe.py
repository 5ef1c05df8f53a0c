"""Probe sql-migrate (the Debian package's Go binary) on the sample project.

Run: python gallery/sql-migrate/probes/probe.py [dump|held-lock|stale-lock|future|race|kill ...]
"""

import shutil
import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
import probelib  # noqa: E402

PROJECT = HERE.parent
VERSIONS = ["1_create_notes.sql", "2_add_slug.sql", "3_fill_slug.sql"]
SQL_MIGRATE = [shutil.which("sql-migrate") or "sql-migrate"]


def env(db: Path) -> dict[str, str]:
    return {"NOTES_DB": str(db)}


def create_at(db: Path, n: int) -> None:
    if n == 0 and not db.exists():
        return
    have = len(probelib.applied_or_empty(ADAPTER, db))
    verb = "up" if n >= have else "down"
    if n != have:
        r = probelib.run([*SQL_MIGRATE, verb, f"-limit={abs(n - have)}"], PROJECT, env(db), 120)
        assert r.rc == 0, r.show()


def applied(con: sqlite3.Connection) -> list[str]:
    # sql-migrate orders by the numeric prefix; rowid order is the order they were recorded
    return [r[0] for r in con.execute("SELECT id FROM gorp_migrations ORDER BY rowid")]


def stamp_future(db: Path) -> str:
    probelib.execute(
        db, "INSERT INTO gorp_migrations (id, applied_at) VALUES ('4_future.sql', datetime('now'))"
    )
    return "4_future.sql"


ADAPTER = probelib.Adapter(
    name="sql-migrate",
    cwd=PROJECT,
    versions=VERSIONS,
    table="gorp_migrations",
    migrate=[*SQL_MIGRATE, "up"],
    env=env,
    create_at=create_at,
    applied=applied,
    stamp_future=stamp_future,
)

if __name__ == "__main__":
    probelib.main(ADAPTER)
