"""Telemetry history (daily range partitions) and events.

Revision ID: 20261126_0002
Revises: 20261126_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261126_0002"
down_revision: str | None = "20261126_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    """Create the partitioned telemetry table (partitions are made at run time) and events."""
    op.create_table(
        "telemetry",
        sa.Column("device_id", UUID, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("telemetry_id", UUID, nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lng", sa.Double(), nullable=False),
        sa.Column("altitude", sa.Double(), nullable=True),
        sa.Column("heading", sa.Double(), nullable=True),
        sa.Column("speed", sa.Double(), nullable=True),
        sa.Column("horizontal_accuracy", sa.Double(), nullable=True),
        sa.Column("vertical_accuracy", sa.Double(), nullable=True),
        sa.Column("satellites", sa.SmallInteger(), nullable=True),
        sa.Column("battery_percent", sa.SmallInteger(), nullable=True),
        sa.Column("fuel_percent", sa.SmallInteger(), nullable=True),
        sa.Column("trip_ids", postgresql.ARRAY(UUID), nullable=True),
        sa.Column("journey_id", UUID, nullable=True),
        sa.Column("stop_id", UUID, nullable=True),
        sa.Column("data_provider_id", UUID, nullable=True),
        sa.Column("location_type", sa.String(16), nullable=True),
        sa.Column("tipped_over", sa.Boolean(), nullable=True),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("device_id", "recorded_at", name=op.f("pk_telemetry")),
        postgresql_partition_by="RANGE (recorded_at)",
    )
    op.create_index(
        "ix_telemetry_recorded_brin", "telemetry", ["recorded_at"], postgresql_using="brin"
    )
    op.create_table(
        "events",
        sa.Column("event_id", UUID, nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("device_id", UUID, nullable=False),
        sa.Column("provider_id", UUID, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vehicle_state", sa.String(32), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("trip_ids", postgresql.ARRAY(UUID), nullable=True),
        sa.Column("anomaly", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("record", postgresql.JSONB(), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_events")),
    )
    op.create_index(
        "ix_events_device_occurred", "events", ["device_id", sa.text("occurred_at DESC")]
    )
    op.create_index("ix_events_provider_occurred", "events", ["provider_id", "occurred_at"])


def downgrade() -> None:
    """Drop events and telemetry with every partition."""
    op.drop_table("events")
    op.drop_table("telemetry")
