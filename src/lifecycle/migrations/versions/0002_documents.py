"""Document versions (issue Documents)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documentversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fortschreibung_id", sa.Integer(), nullable=False),
        sa.Column("stage_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("inputs_sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("template_sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("template_path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pdf_path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["fortschreibung_id"], ["fortschreibung.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fortschreibung_id", "kind", "stage_key", "version"),
    )
    with op.batch_alter_table("documentversion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_documentversion_fortschreibung_id"), ["fortschreibung_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("documentversion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_documentversion_fortschreibung_id"))
    op.drop_table("documentversion")
