"""create notes with seeded rows

Revision ID: 1a2b3c4d5e01
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "1a2b3c4d5e01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    notes = op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
    )
    op.bulk_insert(
        notes,
        [
            {"id": 1, "title": "First note", "body": "hello"},
            {"id": 2, "title": "Second Note", "body": "world"},
            {"id": 3, "title": "A third, longer note", "body": "!"},
        ],
    )


def downgrade() -> None:
    op.drop_table("notes")
