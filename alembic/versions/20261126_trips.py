"""Trips.

Revision ID: 20261126_0006
Revises: 20261126_0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261126_0006"
down_revision: str | None = "20261126_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    """Create the trips table."""
    op.create_table(
        "trips",
        sa.Column("trip_id", UUID, nullable=False),
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("device_id", UUID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_lat", sa.Double(), nullable=True),
        sa.Column("start_lng", sa.Double(), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_lat", sa.Double(), nullable=True),
        sa.Column("end_lng", sa.Double(), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("distance_m", sa.Integer(), nullable=True),
        sa.Column("route_points", sa.Integer(), nullable=True),
        sa.Column("has_gaps", sa.Boolean(), nullable=True),
        sa.Column("parking_category", sa.String(16), nullable=True),
        sa.Column("details", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("trip_id", name=op.f("pk_trips")),
    )
    op.create_index("ix_trips_provider_end", "trips", ["provider_id", "end_at"])
    op.create_index("ix_trips_device_start", "trips", ["device_id", "start_at"])


def downgrade() -> None:
    """Drop the trips table."""
    op.drop_table("trips")
