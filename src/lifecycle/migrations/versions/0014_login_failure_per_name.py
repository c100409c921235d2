"""Failed logins per submitted name, not per account: the lock no longer tells which names exist

An account locked after five wrong passwords and answered "zu viele Fehlversuche"; a name no
account has never locked, so the sixth answer told an attacker which names exist. The count
moves from ``user`` to ``loginfailure``, keyed by a hash of whatever name was submitted.
Locks running at the upgrade are dropped (at most 15 minutes).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loginfailure",
        sa.Column("name_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failed", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name_key"),
    )
    op.create_index("ix_loginfailure_last_failed", "loginfailure", ["last_failed"])
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False,
                                      server_default="0"))  # fmt: skip
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_loginfailure_last_failed", table_name="loginfailure")
    op.drop_table("loginfailure")
