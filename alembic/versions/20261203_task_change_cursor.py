"""Task changes stamped with their transaction, for a `?since=` cursor without gaps.

Revision ID: 20261203_0014
Revises: 20261203_0013
Create Date: 2026-12-03

A change number alone is taken before its transaction commits, so a poller could see
number 11 and move past 10 before 10's transaction committed. Every insert and update now
records the transaction too (a trigger, so no writer can forget it), and readers take only
changes of transactions that have ended.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "20261203_0014"
down_revision: str | None = "20261203_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE tasks ADD COLUMN change_tx xid8 NOT NULL DEFAULT pg_current_xact_id()")
    op.alter_column("tasks", "change_seq", server_default=None)
    op.execute(
        """
        CREATE FUNCTION tasks_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.change_seq := nextval('task_change_seq');
            NEW.change_tx := pg_current_xact_id();
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER tasks_stamp_change BEFORE INSERT OR UPDATE ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION tasks_stamp_change()"
    )
    op.drop_index("ix_tasks_provider_change", table_name="tasks")
    op.create_index("ix_tasks_provider_change", "tasks", ["provider_id", "change_tx", "change_seq"])


def downgrade() -> None:
    op.drop_index("ix_tasks_provider_change", table_name="tasks")
    op.create_index("ix_tasks_provider_change", "tasks", ["provider_id", "change_seq"])
    op.execute("DROP TRIGGER tasks_stamp_change ON tasks")
    op.execute("DROP FUNCTION tasks_stamp_change()")
    op.alter_column("tasks", "change_seq", server_default=sa.text("nextval('task_change_seq')"))
    op.drop_column("tasks", "change_tx")
