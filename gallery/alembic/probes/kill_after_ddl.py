"""Deterministic form of the kill finding: SIGKILL `alembic upgrade head` right after a DDL
statement has run, then look at the database and run `alembic upgrade head` again.

pysqlite opens no transaction before DDL ("Will assume non-transactional DDL"), so the CREATE
TABLE / ALTER TABLE is committed on its own while the rows and `alembic_version` are not.
Run: python gallery/alembic/probes/kill_after_ddl.py
"""

import sys
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
    probelib.kill_after_statements(
        probe.ADAPTER, CHILD, [("CREATE TABLE notes", 0), ("ADD COLUMN slug", 1)]
    )


if __name__ == "__main__":
    main()
