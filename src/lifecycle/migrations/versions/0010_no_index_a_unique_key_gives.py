"""No index that a UNIQUE constraint already gives: fewer pages written by every start

A foreign key that leads a UNIQUE constraint (``stage.fortschreibung_id`` in UNIQUE
(fortschreibung_id, key), and so on) is searched through that constraint's index; an index of
its own only doubled the writes and the space. tests/test_db.py keeps such indexes out.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# table -> the column whose own index goes (ix_<table>_<column>)
DROPPED: dict[str, str] = {
    "gremium": "kommune_id", "konzept": "kommune_id", "person": "kommune_id",
    "handlungsfeld": "fortschreibung_id", "role": "fortschreibung_id",
    "sitzungbinding": "fortschreibung_id", "stage": "fortschreibung_id",
    "termin": "fortschreibung_id", "vorlage": "fortschreibung_id",
    "arbeitsgruppe": "fortschreibung_id", "documentversion": "fortschreibung_id",
    "massnahmeuebernahme": "fortschreibung_id", "beratung": "vorlage_id",
    "vorlageversion": "vorlage_id", "reminder": "person_id", "grant": "user_id",
    "massnahme": "konzept_id", "indikator": "konzept_id", "meilenstein": "massnahme_id",
    "messung": "indikator_id",
}  # fmt: skip


def upgrade() -> None:
    for table, column in DROPPED.items():
        op.drop_index(f"ix_{table}_{column}", table_name=table)


def downgrade() -> None:
    for table, column in DROPPED.items():
        op.create_index(f"ix_{table}_{column}", table, [column])
