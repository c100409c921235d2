"""Web app: users, grants, saved Vorlage texts, an index for the Übersicht (issue The web app)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ROLES = ("viewer", "projektleitung", "sitzungsdienst", "admin")


def upgrade() -> None:
    op.create_index("ix_task_summary", "task", ["fortschreibung_id", "state", "due"])
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_name"), ["name"], unique=True)
    op.create_table(
        "grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.Enum(*ROLES, name="grantrole"), nullable=False),
        sa.Column("kommune_id", sa.Integer(), nullable=False),
        sa.Column("fortschreibung_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["fortschreibung_id"], ["fortschreibung.id"]),
        sa.ForeignKeyConstraint(["kommune_id"], ["kommune.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "role", "kommune_id", "fortschreibung_id"),
    )
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grant_kommune_id"), ["kommune_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grant_user_id"), ["user_id"], unique=False)
    op.create_table(
        "vorlageversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vorlage_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("betreff", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("beschlussvorschlag", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("begruendung", sa.JSON(), nullable=True),
        sa.Column("saved_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["vorlage_id"], ["vorlage.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("vorlage_id", "version"),
    )
    with op.batch_alter_table("vorlageversion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vorlageversion_vorlage_id"), ["vorlage_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("vorlageversion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vorlageversion_vorlage_id"))
    op.drop_table("vorlageversion")
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grant_user_id"))
        batch_op.drop_index(batch_op.f("ix_grant_kommune_id"))
    op.drop_table("grant")
    sa.Enum(name="grantrole").drop(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_name"))
    op.drop_table("user")
    op.drop_index("ix_task_summary", table_name="task")
