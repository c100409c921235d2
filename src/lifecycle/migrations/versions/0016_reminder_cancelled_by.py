"""Who cancelled a reminder by hand: such a row stays cancelled when the scan finds it due again

``lifecycle remind cancel`` cancels one queued reminder (one whose message cannot be built,
say). The daily scan plans a cancelled, never-sent row anew when it is due again (a Sitzung
moved and moved back); a row someone cancelled on purpose must not come back. The column says
who did (empty: cancelled by the engine, which may plan it again).

The reasons the outbox notes on a row (shown in the "Fehler" column of ``lifecycle remind``)
were partly English codes ("obsolete: task done", "waiting: …"); they are German now, and the
rows already stored are worded the same way.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


# (stored text, German text), as the outbox now writes them; a whole text or its start
_WORDED = [
    ("obsolete: process completed", "hinfällig: Fortschreibung abgeschlossen"),
    ("obsolete: task done", "hinfällig: Aufgabe erledigt"),
    ("obsolete: task reassigned", "hinfällig: Aufgabe neu zugewiesen"),
    ("obsolete: deadline moved to ", "hinfällig: Frist verschoben auf den "),
    ("obsolete: Sitzung moved to ", "hinfällig: Sitzung verlegt auf den "),
    ("obsolete: Sitzung moved", "hinfällig: Sitzung verlegt"),
    ("obsolete: ", "hinfällig: "),
    ("waiting: ", "wartet: "),
]


def upgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_by", sa.String(), nullable=False,
                                      server_default=""))  # fmt: skip
    reminder = sa.table("reminder", sa.column("last_error", sa.String()))
    text = reminder.c.last_error
    for old, new in _WORDED:  # longest first: each row is reworded once
        op.execute(reminder.update().where(text.startswith(old, autoescape=True))
                   .values(last_error=sa.literal(new) + sa.func.substr(text, len(old) + 1)))


def downgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_column("cancelled_by")
