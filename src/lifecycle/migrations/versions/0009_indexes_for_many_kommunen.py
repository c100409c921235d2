"""Indexes for an installation with many Kommunen: each hot query reads its own rows

Without statistics SQLite answered "the open tasks of this stage" and "this person's open
tasks" through ix_task_state(_due), reading every open task of the installation; a row's
history, the reminders of a Sitzung and a Sitzung by key or date were read from the whole
table. Single-column indexes that a composite one's leading column already gives are
dropped (each cost a write per row).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# table -> (created: name -> columns, dropped: name -> columns)
CHANGES: dict[str, tuple[dict[str, list[str]], dict[str, list[str]]]] = {
    "task": (
        {"ix_task_stage_state_due": ["stage_id", "state", "due"],
         "ix_task_assignee_state_due": ["assignee_id", "state", "due"]},
        {"ix_task_stage_id": ["stage_id"], "ix_task_state": ["state"],
         "ix_task_fortschreibung_id": ["fortschreibung_id"],
         "ix_task_assignee_id": ["assignee_id"]},
    ),  # fmt: skip
    "event": ({"ix_event_entity": ["entity", "entity_id"]}, {}),
    "reminder": ({"ix_reminder_sitzung_id": ["sitzung_id"]}, {}),
    "sitzung": (
        {"ix_sitzung_key": ["key"], "ix_sitzung_start": ["start"]},
        {"ix_sitzung_kommune_id": ["kommune_id"]},
    ),
}


def upgrade() -> None:
    _apply(create=0, drop=1)


def downgrade() -> None:
    _apply(create=1, drop=0)


def _apply(create: int, drop: int) -> None:
    """Create one side of each table's pair of index sets, drop the other."""
    for table, sides in CHANGES.items():
        for name, columns in sides[create].items():
            op.create_index(name, table, columns)
        for name in sides[drop]:
            op.drop_index(name, table_name=table)
