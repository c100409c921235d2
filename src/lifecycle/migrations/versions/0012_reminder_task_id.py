"""An index of the reminders by task: a task's reminders without reading all queued ones

Reassigning a task cancels its queued reminders; without an index on ``task_id`` SQLite read
every queued reminder of the installation (``ix_reminder_state``) to find a task's few.
Failed reminders stay queued until they are sent, so that set grows with the installation.
Deleting a task's row also checks its reminders through this index.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_reminder_task_id", "reminder", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_reminder_task_id", table_name="reminder")
