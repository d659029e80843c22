"""Rebalancing plans, and the plan stop a task was dispatched from.

Revision ID: 20261204_0015
Revises: 20261203_0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261204_0015"
down_revision: str | None = "20261203_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rebalancing_plans",
        sa.Column("plan_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "provider_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(
                "providers.provider_id",
                name="fk_rebalancing_plans_provider_id_providers",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request", postgresql.JSONB(), nullable=False),
        sa.Column("result", postgresql.JSONB()),
        sa.Column("error", sa.Text()),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_by", sa.String(64)),
        sa.Column("dispatched_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "ix_rebalancing_plans_provider_created",
        "rebalancing_plans",
        ["provider_id", sa.text("created_at DESC")],
    )
    op.add_column("tasks", sa.Column("plan_id", postgresql.UUID(as_uuid=True)))
    op.add_column("tasks", sa.Column("plan_stop", sa.Integer()))
    op.add_column("tasks", sa.Column("quantity", sa.Integer()))
    op.create_foreign_key(
        "fk_tasks_plan_id_rebalancing_plans",
        "tasks",
        "rebalancing_plans",
        ["plan_id"],
        ["plan_id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "ix_tasks_plan", "tasks", ["plan_id", "plan_stop"], postgresql_where="plan_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_plan", table_name="tasks")
    op.drop_constraint("fk_tasks_plan_id_rebalancing_plans", "tasks", type_="foreignkey")
    for column in ("quantity", "plan_stop", "plan_id"):
        op.drop_column("tasks", column)
    op.drop_index("ix_rebalancing_plans_provider_created", table_name="rebalancing_plans")
    op.drop_table("rebalancing_plans")
