"""Documents: the facts a council paper states and when they became true; the author's text
(issue Documents a Sitzungsdienst can send as they are)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def _json(name: str) -> sa.Column:
    return sa.Column(name, sa.JSON(), nullable=True)


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("anrede", _TEXT(), nullable=False, server_default=""))
    with op.batch_alter_table("fortschreibung") as batch:
        batch.add_column(sa.Column("funding_applied_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("funding_granted_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("budget_on", sa.Date(), nullable=True))
        batch.add_column(_json("schwerpunkte"))
        batch.add_column(_json("leitgedanken"))
    with op.batch_alter_table("stage") as batch:
        batch.add_column(sa.Column("ergebnis", _TEXT(), nullable=False, server_default=""))
    with op.batch_alter_table("workshop") as batch:
        batch.add_column(sa.Column("teilnehmerkreis", _TEXT(), nullable=False, server_default=""))
        batch.add_column(sa.Column("ag_moderation", _TEXT(), nullable=False, server_default=""))
        batch.add_column(sa.Column("schulung", _TEXT(), nullable=False, server_default=""))
    with op.batch_alter_table("vorlage") as batch:
        batch.add_column(_json("mitzeichnung"))
    with op.batch_alter_table("vorlageversion") as batch:
        batch.add_column(_json("basis"))


def downgrade() -> None:
    with op.batch_alter_table("vorlageversion") as batch:
        batch.drop_column("basis")
    with op.batch_alter_table("vorlage") as batch:
        batch.drop_column("mitzeichnung")
    with op.batch_alter_table("workshop") as batch:
        for name in ("schulung", "ag_moderation", "teilnehmerkreis"):
            batch.drop_column(name)
    with op.batch_alter_table("stage") as batch:
        batch.drop_column("ergebnis")
    with op.batch_alter_table("fortschreibung") as batch:
        for name in ("leitgedanken", "schwerpunkte", "budget_on", "funding_granted_on",
                     "funding_applied_on"):  # fmt: skip
            batch.drop_column(name)
    with op.batch_alter_table("person") as batch:
        batch.drop_column("anrede")
