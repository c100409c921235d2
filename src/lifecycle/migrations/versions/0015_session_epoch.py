"""A generation of each user's web sessions: logging out ends them on the server too

The session is a signed cookie, not stored: logging out cleared the browser's copy, and any
other copy kept working for up to eight hours. Each session now carries a stamp of the user's
``session_epoch`` (and password hash); logging out counts the epoch up.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False,
                                      server_default="0"))  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
