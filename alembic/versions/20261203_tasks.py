"""Field tasks, their history and each provider's task rules.

Revision ID: 20261203_0012
Revises: 20261203_0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261203_0012"
down_revision: str | None = "20261203_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UUID = postgresql.UUID(as_uuid=True)
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the task tables, their indexes and the change sequence."""
    op.execute("CREATE SEQUENCE task_change_seq")
    op.create_table(
        "tasks",
        sa.Column("task_id", _UUID, primary_key=True),
        sa.Column("provider_id", _UUID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("device_id", _UUID, nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lng", sa.Double(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("due_at", _TS, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("closed_reason", sa.String(200), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column(
            "change_seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('task_change_seq')"),
            nullable=False,
        ),
    )
    op.create_index(
        "uq_tasks_active_device_kind",
        "tasks",
        ["provider_id", "device_id", "kind"],
        unique=True,
        postgresql_where=sa.text("state IN ('open', 'assigned', 'in_progress')"),
    )
    op.create_index("ix_tasks_provider_change", "tasks", ["provider_id", "change_seq"])
    op.create_index("ix_tasks_provider_state_due", "tasks", ["provider_id", "state", "due_at"])
    op.execute(
        "CREATE INDEX ix_tasks_place ON tasks USING gist "
        "((geography(st_setsrid(st_makepoint(lng, lat), 4326))))"
    )
    op.create_table(
        "task_changes",
        sa.Column("change_id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "task_id",
            _UUID,
            sa.ForeignKey("tasks.task_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("details", postgresql.JSONB(), nullable=False),
    )
    op.create_index("ix_task_changes_task", "task_changes", ["task_id", "change_id"])
    op.create_table(
        "task_rules",
        sa.Column("provider_id", _UUID, primary_key=True),
        sa.Column("rules", postgresql.JSONB(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    """Drop the task tables and the change sequence."""
    op.drop_table("task_rules")
    op.drop_table("task_changes")
    op.drop_table("tasks")
    op.execute("DROP SEQUENCE task_change_seq")
