"""Probe alembic + SQLAlchemy on the sample project (see gallery/probelib.py for the cases).

Run: python gallery/alembic/probes/probe.py [dump|held-lock|stale-lock|future|race|kill ...]
"""

import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
import probelib  # noqa: E402

PROJECT = HERE.parent
VERSIONS = ["1a2b3c4d5e01", "2b3c4d5e6f02", "3c4d5e6f7a03"]
ALEMBIC = [str(probelib.VENV_BIN / "alembic")]


def env(db: Path) -> dict[str, str]:
    return {"NOTES_DB": str(db)}


def create_at(db: Path, n: int) -> None:
    if n == 0 and not db.exists():
        return
    verb, target = ("upgrade", VERSIONS[n - 1]) if n else ("downgrade", "base")
    if db.exists() and n < len(probelib.applied_or_empty(ADAPTER, db)):
        verb = "downgrade"
    r = probelib.run([*ALEMBIC, verb, target], PROJECT, env(db), 120)
    assert r.rc == 0, r.show()


def applied(con: sqlite3.Connection) -> list[str]:
    """alembic keeps only the head; the applied chain is every revision up to it."""
    heads = [r[0] for r in con.execute("SELECT version_num FROM alembic_version")]
    if len(heads) != 1 or heads[0] not in VERSIONS:
        return heads  # shown as inconsistent (several rows or an unknown revision)
    return VERSIONS[: VERSIONS.index(heads[0]) + 1]


def stamp_future(db: Path) -> str:
    probelib.execute(db, "UPDATE alembic_version SET version_num = '4d5e6f7a8b04'")
    return "4d5e6f7a8b04"


ADAPTER = probelib.Adapter(
    name="alembic",
    cwd=PROJECT,
    versions=VERSIONS,
    table="alembic_version",
    migrate=[*ALEMBIC, "upgrade", "head"],
    env=env,
    create_at=create_at,
    applied=applied,
    stamp_future=stamp_future,
)

if __name__ == "__main__":
    probelib.main(ADAPTER)
