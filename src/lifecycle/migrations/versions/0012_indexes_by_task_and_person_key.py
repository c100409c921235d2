"""Two lookups that read the whole installation: a task's reminders, a person by key

Reassigning a task cancels its queued reminders; without an index on ``reminder.task_id``
SQLite read every queued reminder of the installation (``ix_reminder_state``) to find the
task's few. Failed reminders stay queued until they are sent, so that set grows. Deleting a
task's row also checks its reminders through this index.

``lifecycle tasks --person KEY`` finds the person in every Kommune by key; the UNIQUE
(kommune_id, key) index does not serve a key alone, so the whole person table was read.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = {"ix_reminder_task_id": ("reminder", "task_id"), "ix_person_key": ("person", "key")}


def upgrade() -> None:
    for name, (table, column) in INDEXES.items():
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
