"""Reminder outbox (issue Reminders)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATES = ("planned", "sending", "sent", "failed", "cancelled")


def upgrade() -> None:
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fortschreibung_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("sitzung_id", sa.Integer(), nullable=True),
        sa.Column("send_on", sa.Date(), nullable=False),
        sa.Column("state", sa.Enum(*STATES, name="reminderstate"), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("claim_token", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["fortschreibung_id"], ["fortschreibung.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["sitzung_id"], ["sitzung.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "subject", "deadline", "offset"),
    )
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reminder_fortschreibung_id"), ["fortschreibung_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reminder_send_on"), ["send_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_reminder_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_state"))
        batch_op.drop_index(batch_op.f("ix_reminder_send_on"))
        batch_op.drop_index(batch_op.f("ix_reminder_fortschreibung_id"))
        batch_op.drop_index(batch_op.f("ix_reminder_person_id"))
    op.drop_table("reminder")
    sa.Enum(name="reminderstate").drop(op.get_bind(), checkfirst=True)
