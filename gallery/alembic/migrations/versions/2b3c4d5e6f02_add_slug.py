"""add notes.slug

Revision ID: 2b3c4d5e6f02
Revises: 1a2b3c4d5e01
"""

import sqlalchemy as sa
from alembic import op

revision = "2b3c4d5e6f02"
down_revision = "1a2b3c4d5e01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notes", sa.Column("slug", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("notes") as batch:
        batch.drop_column("slug")
