"""sqlitetool: a migrator whose repo is one SQLite file (`{repo}` itself is the database).

The version is SQLite's `user_version`; each step runs in one transaction (BEGIN
IMMEDIATE, so racing migrators queue on SQLite's own lock and re-read the version).
Steps: 1 -> 2 adds a column, 2 -> 3 rebuilds the table (copy, drop, rename), the way
real schema migrations change a table SQLite cannot alter in place.

Misbehaviours the contract must catch, switched on by SQLITETOOL_MUTANT:
  persist-journal  journal_mode=PERSIST: a `-journal` stays beside the repo
  temp-copy        a VACUUM INTO copy `{repo}.tmp` is left beside the repo
  wal-on-open      switches the file to WAL before checking the version, so a refused
                   run still rewrites the file's header
  journal-off      journal_mode=OFF: a crash part-way through a commit corrupts the data
"""

import os
import sqlite3
import sys

LATEST = 3
HOOK_ENV = "MIGRATION_HARNESS_CRASH_AT"
# How long a run waits for another one's write lock on the database (the spec's lock_wait_s).
LOCK_WAIT_S = 3
MUTANT = os.environ.get("SQLITETOOL_MUTANT", "")
ROWS = [(1, "first note"), (2, "second, with a comma"), (3, "third: tabs and colons")]


class Checkpoints:
    """Exit 86 at the n-th checkpoint when the harness asks (the crash hook)."""

    def __init__(self) -> None:
        self.count = 0
        self.crash_at = int(os.environ.get(HOOK_ENV, "0"))

    def __call__(self) -> None:
        self.count += 1
        if self.count == self.crash_at:
            os._exit(86)


checkpoint = Checkpoints()

UP = {
    1: ["ALTER TABLE notes ADD COLUMN tags TEXT NOT NULL DEFAULT ''"],
    2: [
        "CREATE TABLE notes_new (id INTEGER PRIMARY KEY, body TEXT NOT NULL,"
        " tags TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL DEFAULT 0)",
        "INSERT INTO notes_new (id, body, tags) SELECT id, body, tags FROM notes",
        "DROP TABLE notes",
        "ALTER TABLE notes_new RENAME TO notes",
    ],
}
DOWN = {
    3: [
        "CREATE TABLE notes_old (id INTEGER PRIMARY KEY, body TEXT NOT NULL,"
        " tags TEXT NOT NULL DEFAULT '')",
        "INSERT INTO notes_old (id, body, tags) SELECT id, body, tags FROM notes",
        "DROP TABLE notes",
        "ALTER TABLE notes_old RENAME TO notes",
    ],
    2: ["ALTER TABLE notes DROP COLUMN tags"],
}


def connect(repo: str) -> sqlite3.Connection:
    db = sqlite3.connect(repo, isolation_level=None, timeout=LOCK_WAIT_S)
    if MUTANT == "persist-journal":
        db.execute("PRAGMA journal_mode=PERSIST")
    if MUTANT == "journal-off":
        db.execute("PRAGMA journal_mode=OFF")
    return db


def version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def create(repo: str, at: int) -> int:
    if os.path.exists(repo):
        print(f"error: {repo} already exists", file=sys.stderr)
        return 1
    db = connect(repo)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    db.executemany("INSERT INTO notes VALUES (?, ?)", ROWS)
    for step in range(1, at):
        for statement in UP[step]:
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {at}")
    db.close()
    return 0


def migrate(repo: str, to: int) -> int:
    if not os.path.isfile(repo):
        print(f"error: no database at {repo}", file=sys.stderr)
        return 1
    db = connect(repo)
    if MUTANT == "wal-on-open":
        db.execute("PRAGMA journal_mode=WAL")  # persistent: rewrites the file's header
    try:
        while True:
            db.execute("BEGIN IMMEDIATE")  # re-read under the lock: another run may be done
            current = version(db)
            db.execute("COMMIT")
            if current > LATEST:
                print(f"error: database version {current} is newer than {LATEST}", file=sys.stderr)
                return 1
            if current == to:
                break
            if current < to:
                step = _locked_step(db, current, current + 1, UP[current])
            else:
                step = _locked_step(db, current, current - 1, DOWN[current])
            if not step:
                continue
        if MUTANT == "temp-copy":
            copy = repo + ".tmp"
            if os.path.exists(copy):
                os.remove(copy)
            db.execute("VACUUM INTO ?", (copy,))
    finally:
        db.close()
    return 0


def _locked_step(db: sqlite3.Connection, frm: int, to: int, statements: list[str]) -> bool:
    """Run one step unless another migrator moved the version meanwhile."""
    db.execute("BEGIN IMMEDIATE")
    if version(db) != frm:
        db.execute("ROLLBACK")
        return False
    for statement in statements:
        db.execute(statement)
        checkpoint()  # mid-transaction: the journal holds the old pages
    db.execute(f"PRAGMA user_version = {to}")
    db.execute("COMMIT")
    checkpoint()
    return True


def main() -> int:
    verb, repo = sys.argv[1], sys.argv[2]
    if verb == "create":
        return create(repo, int(sys.argv[3]))
    if verb == "migrate":
        return migrate(repo, int(sys.argv[3]))
    db = connect(repo)
    try:
        if verb == "version":
            print(version(db))
        elif verb == "stamp":
            db.execute(f"PRAGMA user_version = {int(sys.argv[3])}")
        else:  # dump: the logical content, the same at every version
            for row in db.execute("SELECT id, body FROM notes ORDER BY id"):
                print(f"{row[0]}\t{row[1]}")
    finally:
        db.close()
    return 0


try:
    sys.exit(main())
except sqlite3.OperationalError as exc:
    if "locked" not in str(exc):
        raise
    print(f"error: the database is locked by another process ({exc})", file=sys.stderr)
    sys.exit(1)
