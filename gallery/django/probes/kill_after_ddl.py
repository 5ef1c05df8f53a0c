"""The alembic kill finding tried on Django: SIGKILL `manage.py migrate` right after a DDL
statement has run, then look at the database and migrate again.

Django runs each migration on SQLite inside a transaction, so the DDL is rolled back with
the rest (the hot journal is rolled back by the next opener).
Run: python gallery/django/probes/kill_after_ddl.py
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
import probe  # noqa: E402
import probelib  # noqa: E402

# the child: Django's migrate in-process, dying after the statement containing `marker`
CHILD = """
import os, signal, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notesite.settings")
django.setup()
from django.core.management import call_command
from django.db import connection

def die(execute, sql, params, many, context):
    result = execute(sql, params, many, context)
    if sys.argv[1] in sql:
        os.kill(os.getpid(), signal.SIGKILL)
    return result

with connection.execute_wrapper(die):
    call_command("migrate", interactive=False)
"""


def main() -> None:
    probelib.kill_after_statements(
        probe.ADAPTER, CHILD, [('CREATE TABLE "notes"', 0), ('"slug"', 1)]
    )


if __name__ == "__main__":
    main()
