"""sqlitenolock: a small SQLite migrator without a migration lock, as Django's migrate is.

The repo is a directory holding ``app.db``. ``migrate`` reads which steps the
``schema_migrations`` table records once, then applies each later step in its own
transaction and records it, with nothing keeping a second migrator out in between.
Racers that read the same version apply the same step again: adding the column a
second time fails (``duplicate column name``, a traceback); a step that can run
twice records itself twice. ``dump`` prints the notes and their tags (the same at
every version) and every step recorded more than once.

Usage: tool.py create REPO VERSION | migrate REPO TO | version REPO | dump REPO
"""

import sqlite3
import sys
from pathlib import Path

NOTES = [(1, "First note", "a,b"), (2, "Second note", "b"), (3, "Third note", "")]


def step_1(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, tags TEXT)")
    db.executemany("INSERT INTO notes VALUES (?, ?, ?)", NOTES)


def step_2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE notes ADD COLUMN slug TEXT")
    db.execute("UPDATE notes SET slug = lower(replace(title, ' ', '-'))")


def step_3(db: sqlite3.Connection) -> None:
    # The tags move to a table of their own; the old column is kept, as a careful step does.
    db.execute("CREATE TABLE IF NOT EXISTS note_tags (note_id INTEGER, tag TEXT)")
    rows = db.execute("SELECT id, tags FROM notes").fetchall()
    db.executemany(
        "INSERT INTO note_tags VALUES (?, ?)",
        [(note, tag) for note, tags in rows for tag in tags.split(",") if tag],
    )


STEPS = {1: step_1, 2: step_2, 3: step_3}
LATEST = max(STEPS)


def connect(repo: Path) -> sqlite3.Connection:
    db = sqlite3.connect(repo / "app.db", isolation_level=None)  # transactions by hand
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL)")
    return db


def current(db: sqlite3.Connection) -> int:
    return db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def migrate(db: sqlite3.Connection, to: int) -> int:
    version = current(db)  # read once: no lock keeps the next migrator out from here on
    if version > LATEST:
        print(f"error: the database is at version {version}, newer than {LATEST}", file=sys.stderr)
        return 1
    for step in range(version + 1, to + 1):
        db.execute("BEGIN")
        STEPS[step](db)
        db.execute("INSERT INTO schema_migrations VALUES (?)", (step,))
        db.execute("COMMIT")
    return 0


def dump(db: sqlite3.Connection) -> None:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    tags: dict[int, list[str]] = {}
    if "note_tags" in tables:
        for note, tag in db.execute("SELECT note_id, tag FROM note_tags"):
            tags.setdefault(note, []).append(tag)
    moved = "note_tags" in tables
    for note, title, old_tags in db.execute("SELECT id, title, tags FROM notes ORDER BY id"):
        listed = tags.get(note, []) if moved else [tag for tag in old_tags.split(",") if tag]
        print(f"{note}\t{title}\t{','.join(sorted(listed))}")
    twice = "SELECT version, count(*) FROM schema_migrations GROUP BY version HAVING count(*) > 1"
    for step, count in db.execute(twice):
        print(f"step {step} recorded {count} times")


def main() -> int:
    verb, repo = sys.argv[1], Path(sys.argv[2])
    if verb == "create":
        repo.mkdir(parents=True, exist_ok=True)
        return migrate(connect(repo), int(sys.argv[3]))
    db = connect(repo)
    if verb == "migrate":
        return migrate(db, int(sys.argv[3]))
    if verb == "version":
        print(current(db))
    else:
        dump(db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
