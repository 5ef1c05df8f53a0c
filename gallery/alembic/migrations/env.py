"""Online-only env: the database is the SQLite file named by NOTES_DB (default notes.sqlite3)."""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name)

engine = create_engine("sqlite:///" + os.environ.get("NOTES_DB", "notes.sqlite3"))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
