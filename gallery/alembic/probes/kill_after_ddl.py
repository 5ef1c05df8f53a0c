"""Deterministic form of the kill finding: SIGKILL `alembic upgrade head` right after a DDL
statement has run, then look at the database and run `alembic upgrade head` again.

pysqlite opens no transaction before DDL ("Will assume non-transactional DDL"), so the CREATE
TABLE / ALTER TABLE is committed on its own while the rows and `alembic_version` are not.
Run: python gallery/alembic/probes/kill_after_ddl.py
"""

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
import probe  # noqa: E402
import probelib  # noqa: E402

# the child: alembic's own CLI in-process, with a listener that dies after statement `marker`
CHILD = """
import os, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine
from alembic.config import main

@event.listens_for(Engine, "after_cursor_execute")
def die(conn, cursor, statement, params, context, executemany):
    if sys.argv[1] in statement:
        os.kill(os.getpid(), signal.SIGKILL)

main(["upgrade", "head"])
"""


def main() -> None:
    py = str(probelib.VENV_BIN / "python")
    for marker, start in (("CREATE TABLE notes", 0), ("ADD COLUMN slug", 1)):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "notes.db"
            probe.create_at(db, start)
            killed = probelib.run([py, "-c", CHILD, marker], probe.PROJECT, probe.env(db), 120)
            print(f"## from v{start}, SIGKILL right after the statement containing {marker!r}")
            print(f"killed run: exit {killed.rc}")
            print(f"after kill: {probelib.version_of(probe.ADAPTER, db)}")
            print(probelib.indent(probelib.canonical_dump(db, "alembic_version")))
            again = probelib.run(probe.ADAPTER.migrate, probe.PROJECT, probe.env(db), 120)
            print(probelib.anonymize(again.show(limit=900)))
            print(f"after re-run: {probelib.version_of(probe.ADAPTER, db)}\n")


if __name__ == "__main__":
    main()
