"""No index of tasks by due date alone: every search by due date is one of open tasks

``ix_task_state_due`` (state, due) serves the daily reminder scan, ``lifecycle tasks
--overdue`` and every other search of open tasks by due date; each process's, stage's and
person's tasks have their own (…, state, due) index. ``ix_task_due`` served no query that
these do not, yet a new process wrote some thirty of its pages (the due dates of its tasks
lie all over the index), and every recompute that moved a deadline wrote it again.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_task_due", table_name="task")


def downgrade() -> None:
    op.create_index("ix_task_due", "task", ["due"])
