"""A partial index of the deletion events: OParl's tombstones without reading the whole log

Every OParl request of a Body looked for the rows deleted (``action = 'oparl_deleted'``) by
reading the whole event table, which every change of every process appends to. The index
holds the deletions only, so no other event pays for it.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DELETED_ONLY = "action = 'oparl_deleted'"


def upgrade() -> None:
    op.create_index("ix_event_deleted", "event", ["id"], sqlite_where=sa.text(DELETED_ONLY),
                    postgresql_where=sa.text(DELETED_ONLY))  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_event_deleted", table_name="event")
