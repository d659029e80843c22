"""MDS policies.

Revision ID: 20261126_0005
Revises: 20261126_0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261126_0005"
down_revision: str | None = "20261126_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    """Create the policies table."""
    op.create_table(
        "policies",
        sa.Column("policy_id", UUID, nullable=False),
        sa.Column("record", postgresql.JSONB(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_policy_ids", postgresql.ARRAY(UUID), nullable=True),
        sa.Column("created_by", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("policy_id", name=op.f("pk_policies")),
    )
    op.create_index("ix_policies_window", "policies", ["start_at", "end_at"])


def downgrade() -> None:
    """Drop the policies table."""
    op.drop_table("policies")
