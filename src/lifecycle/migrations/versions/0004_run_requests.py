"""Outbox for stage runs; a random Message-ID part per reminder (issue One way in)

Revision ID: 0004
Revises: 0003
"""

import uuid

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runrequest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fortschreibung_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.Enum("pending", "started", name="runrequeststate"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["gatedecision.id"]),
        sa.ForeignKeyConstraint(["fortschreibung_id"], ["fortschreibung.id"]),
        sa.ForeignKeyConstraint(["stage_id"], ["stage.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("runrequest", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_runrequest_fortschreibung_id"), ["fortschreibung_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_runrequest_state"), ["state"], unique=False)

    # Existing reminders get their random part too, then the column is required and unique.
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("message_uid", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
    conn = op.get_bind()
    ids = [row[0] for row in conn.execute(sa.text("SELECT id FROM reminder"))]
    for rid in ids:
        conn.execute(
            sa.text("UPDATE reminder SET message_uid = :uid WHERE id = :id"),
            {"uid": uuid.uuid4().hex, "id": rid},
        )
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.alter_column("message_uid", nullable=False)
        batch_op.create_unique_constraint("uq_reminder_message_uid", ["message_uid"])


def downgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reminder_message_uid", type_="unique")
        batch_op.drop_column("message_uid")
    with op.batch_alter_table("runrequest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runrequest_state"))
        batch_op.drop_index(batch_op.f("ix_runrequest_fortschreibung_id"))
    op.drop_table("runrequest")
    sa.Enum(name="runrequeststate").drop(op.get_bind(), checkfirst=True)
