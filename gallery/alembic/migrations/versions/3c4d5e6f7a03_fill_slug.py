"""fill notes.slug from the title (data migration)

Revision ID: 3c4d5e6f7a03
Revises: 2b3c4d5e6f02
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "3c4d5e6f7a03"
down_revision = "2b3c4d5e6f02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    for note_id, title in conn.execute(sa.text("SELECT id, title FROM notes")).all():
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        conn.execute(sa.text("UPDATE notes SET slug = :s WHERE id = :i"), {"s": slug, "i": note_id})


def downgrade() -> None:
    op.execute("UPDATE notes SET slug = ''")
