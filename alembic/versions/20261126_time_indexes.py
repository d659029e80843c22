"""Indexes on time alone, for the city's reads across every provider.

Revision ID: 20261126_0008
Revises: 20261126_0007
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261126_0008"
down_revision: str | None = "20261126_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Events by time, trips by start and by end: what auditors pull across providers."""
    op.create_index("ix_events_occurred", "events", ["occurred_at"])
    op.create_index("ix_trips_end", "trips", ["end_at"])
    op.create_index("ix_trips_start", "trips", ["start_at"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_trips_start", table_name="trips")
    op.drop_index("ix_trips_end", table_name="trips")
    op.drop_index("ix_events_occurred", table_name="events")
