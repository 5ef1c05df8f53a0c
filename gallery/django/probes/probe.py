"""Probe Django 5.2 migrations on the sample project (see gallery/probelib.py for the cases).

Run: python gallery/django/probes/probe.py [dump|held-lock|stale-lock|future|race|kill ...]
"""

import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
import probelib  # noqa: E402

PROJECT = HERE.parent
VERSIONS = ["0001_initial", "0002_note_slug", "0003_fill_slug"]
MANAGE = [str(probelib.VENV_BIN / "python"), "manage.py"]


def env(db: Path) -> dict[str, str]:
    return {"NOTES_DB": str(db)}


def create_at(db: Path, n: int) -> None:
    target = VERSIONS[n - 1] if n else "zero"
    if n == 0 and not db.exists():
        return  # version 0 is "no database yet": migrate creates the file
    r = probelib.run([*MANAGE, "migrate", "notes", target], PROJECT, env(db), 120)
    assert r.rc == 0, r.show()


def applied(con: sqlite3.Connection) -> list[str]:
    rows = con.execute("SELECT name FROM django_migrations WHERE app='notes' ORDER BY id")
    return [r[0] for r in rows]


def stamp_future(db: Path) -> str:
    probelib.execute(
        db,
        "INSERT INTO django_migrations (app, name, applied) "
        "VALUES ('notes', '0004_future', datetime('now'))",
    )
    return "0004_future"


ADAPTER = probelib.Adapter(
    name="django",
    cwd=PROJECT,
    versions=VERSIONS,
    table="django_migrations",
    migrate=[*MANAGE, "migrate", "--no-input"],
    env=env,
    create_at=create_at,
    applied=applied,
    stamp_future=stamp_future,
)

if __name__ == "__main__":
    probelib.main(ADAPTER)
