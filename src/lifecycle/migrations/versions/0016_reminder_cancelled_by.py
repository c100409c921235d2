"""Who cancelled a reminder by hand: such a row stays cancelled when the scan finds it due again

``lifecycle remind cancel`` cancels one queued reminder (one whose message cannot be built,
say). The daily scan plans a cancelled, never-sent row anew when it is due again (a Sitzung
moved and moved back); a row someone cancelled on purpose must not come back. The column says
who did (empty: cancelled by the engine, which may plan it again).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_by", sa.String(), nullable=False,
                                      server_default=""))  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_column("cancelled_by")
