"""The Umsetzung: Maßnahmen with milestones, indicators with measurements, and what a later
Fortschreibung decides for each Maßnahme it carries (issue After the council decides)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
# SQLAlchemy stores an enum's member names
STATUS = sa.Enum("offen", "in_umsetzung", "erledigt", "zurueckgestellt", name="massnahmestatus")
UEBERNAHME = sa.Enum("weiterfuehren", "abgeschlossen", "streichen", name="uebernahme")


def _text(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, _TEXT(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "massnahme",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("konzept_id", sa.Integer(), sa.ForeignKey("konzept.id"), nullable=False),
        sa.Column("kommune_id", sa.Integer(), sa.ForeignKey("kommune.id"), nullable=False),
        sa.Column("fortschreibung_id", sa.Integer(), sa.ForeignKey("fortschreibung.id"),
                  nullable=False),  # fmt: skip
        _text("key"), _text("handlungsfeld"), _text("title"), _text("responsible"),
        sa.Column("responsible_person_id", sa.Integer(), sa.ForeignKey("person.id"),
                  nullable=True),  # fmt: skip
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        _text("budget_line"),
        sa.Column("budget_amount", sa.Float(), nullable=True),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        _text("public_text"), _text("internal_note"), _text("source"),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("konzept_id", "key"),
    )
    op.create_index("ix_massnahme_konzept_id", "massnahme", ["konzept_id"])
    op.create_index("ix_massnahme_kommune_id", "massnahme", ["kommune_id"])
    op.create_index("ix_massnahme_fortschreibung_id", "massnahme", ["fortschreibung_id"])
    op.create_index("ix_massnahme_due", "massnahme", ["status", "target_date"])
    op.create_table(
        "meilenstein",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("massnahme_id", sa.Integer(), sa.ForeignKey("massnahme.id"), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        _text("title"), _text("note"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("massnahme_id", "on", "title"),
    )
    op.create_index("ix_meilenstein_massnahme_id", "meilenstein", ["massnahme_id"])
    op.create_table(
        "indikator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("konzept_id", sa.Integer(), sa.ForeignKey("konzept.id"), nullable=False),
        _text("key"), _text("handlungsfeld"), _text("title"), _text("unit"),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("baseline_on", sa.Date(), nullable=True),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("target_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("konzept_id", "key"),
    )
    op.create_index("ix_indikator_konzept_id", "indikator", ["konzept_id"])
    op.create_table(
        "messung",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indikator_id", sa.Integer(), sa.ForeignKey("indikator.id"), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        _text("note"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("indikator_id", "on"),
    )
    op.create_index("ix_messung_indikator_id", "messung", ["indikator_id"])
    op.create_table(
        "massnahmeuebernahme",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fortschreibung_id", sa.Integer(), sa.ForeignKey("fortschreibung.id"),
                  nullable=False),  # fmt: skip
        sa.Column("massnahme_id", sa.Integer(), sa.ForeignKey("massnahme.id"), nullable=False),
        sa.Column("decision", UEBERNAHME, nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        _text("decided_by"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fortschreibung_id", "massnahme_id"),
    )
    op.create_index("ix_massnahmeuebernahme_fortschreibung_id", "massnahmeuebernahme",
                    ["fortschreibung_id"])  # fmt: skip
    op.create_index("ix_massnahmeuebernahme_massnahme_id", "massnahmeuebernahme",
                    ["massnahme_id"])  # fmt: skip


def downgrade() -> None:
    for table in ("massnahmeuebernahme", "messung", "indikator", "meilenstein", "massnahme"):
        op.drop_table(table)
    bind = op.get_bind()
    UEBERNAHME.drop(bind, checkfirst=True)
    STATUS.drop(bind, checkfirst=True)
