"""Trip figures: the operator's, fleetbed's measurement, a late measurement, discrepancies.

Revision ID: 20261203_0011
Revises: 20261203_0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261203_0011"
down_revision: str | None = "20261203_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW = (
    ("operator_duration_s", sa.BigInteger()),
    ("operator_distance_m", sa.BigInteger()),
    ("operator_parking_category", sa.String(16)),
    ("measured_duration_s", sa.BigInteger()),
    ("measured_distance_m", sa.BigInteger()),
    ("measured_parking_category", sa.String(16)),
    ("late_distance_m", sa.BigInteger()),
    ("late_route_points", sa.Integer()),
    ("late_has_gaps", sa.Boolean()),
    ("late_measured_at", sa.DateTime(timezone=True)),
)

# Trips measured from events carry route points; an operator's record sits in details.
# The city's figures become the operator's where given; discrepancies follow
# fleet/trips/figures.py with the default share (25 %), as a migration knows no settings.
_BACKFILL = """
UPDATE trips SET
    measured_duration_s = CASE WHEN measured_route_points IS NOT NULL THEN duration_s END,
    measured_distance_m = CASE WHEN measured_route_points IS NOT NULL THEN distance_m END,
    measured_parking_category =
        CASE WHEN measured_route_points IS NOT NULL THEN parking_category END,
    operator_duration_s = (details -> 'agency' ->> 'duration')::bigint,
    operator_distance_m = (details -> 'agency' ->> 'distance')::bigint,
    operator_parking_category = details -> 'agency' ->> 'parking_category'
"""
_CITY = """
UPDATE trips SET
    duration_s = coalesce(operator_duration_s, measured_duration_s),
    distance_m = coalesce(operator_distance_m, measured_distance_m),
    parking_category = coalesce(operator_parking_category, measured_parking_category),
    discrepancies = array_remove(ARRAY[
        CASE WHEN abs(operator_duration_s - measured_duration_s)
                  > 0.25 * greatest(operator_duration_s, measured_duration_s)
             THEN 'duration' END,
        CASE WHEN abs(operator_distance_m - measured_distance_m)
                  > 0.25 * greatest(operator_distance_m, measured_distance_m)
             THEN 'distance' END,
        CASE WHEN (operator_parking_category = 'invalid')
                  <> (measured_parking_category = 'invalid')
             THEN 'parking_category' END
    ], NULL)
WHERE details ? 'agency'
"""


def upgrade() -> None:
    """Add the columns, widen duration and distance (MDS sets no maximum), backfill."""
    op.alter_column("trips", "route_points", new_column_name="measured_route_points")
    op.alter_column("trips", "has_gaps", new_column_name="measured_has_gaps")
    for name in ("duration_s", "distance_m"):
        op.alter_column("trips", name, type_=sa.BigInteger(), existing_type=sa.Integer())
    for name, kind in _NEW:
        op.add_column("trips", sa.Column(name, kind, nullable=True))
    op.add_column(
        "trips",
        sa.Column(
            "discrepancies", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
    )
    op.execute(_BACKFILL)
    op.execute(_CITY)
    op.create_index(
        "ix_trips_closed_device_end",
        "trips",
        ["provider_id", "device_id", "end_at"],
        postgresql_where=sa.text("status = 'closed'"),
    )
    op.create_index(
        "ix_trips_flagged_end",
        "trips",
        ["end_at", "trip_id"],
        postgresql_where=sa.text("discrepancies <> '{}'"),
    )


def downgrade() -> None:
    """Back to one set of figures (the city's); fails on figures beyond 32 bits."""
    op.drop_index("ix_trips_flagged_end", table_name="trips")
    op.drop_index("ix_trips_closed_device_end", table_name="trips")
    op.drop_column("trips", "discrepancies")
    for name, _ in reversed(_NEW):
        op.drop_column("trips", name)
    for name in ("duration_s", "distance_m"):
        op.alter_column("trips", name, type_=sa.Integer(), existing_type=sa.BigInteger())
    op.alter_column("trips", "measured_has_gaps", new_column_name="has_gaps")
    op.alter_column("trips", "measured_route_points", new_column_name="route_points")
