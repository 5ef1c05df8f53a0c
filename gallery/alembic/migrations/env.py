"""Online-only env: the database URL is the config's sqlalchemy.url, as in alembic's templates.

alembic.ini names notes.sqlite3; a tool that loads this Config (migration-harness's alembic
preset) sets sqlalchemy.url in memory. NOTES_DB, a SQLite file path, overrides it for a run
by hand and for the probes.
"""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name)

url = context.config.get_main_option("sqlalchemy.url")
if os.environ.get("NOTES_DB"):
    url = "sqlite:///" + os.environ["NOTES_DB"]
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
