"""Alerts.

Revision ID: 20261126_0004
Revises: 20261126_0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261126_0004"
down_revision: str | None = "20261126_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    """Create the alerts table."""
    op.create_table(
        "alerts",
        sa.Column("alert_id", UUID, nullable=False),
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("device_id", UUID, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("zone_id", UUID, nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lng", sa.Double(), nullable=False),
        sa.Column("details", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alerts")),
    )
    op.create_index(
        "ix_alerts_provider_occurred", "alerts", ["provider_id", sa.text("occurred_at DESC")]
    )
    op.create_index(
        "ix_alerts_device_occurred", "alerts", ["device_id", sa.text("occurred_at DESC")]
    )


def downgrade() -> None:
    """Drop the alerts table."""
    op.drop_table("alerts")
