"""Dispatch of pods: requests and their history, the pods' schedules, the settings.

Revision ID: 20261206_0016
Revises: 20261204_0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261206_0016"
down_revision: str | None = "20261204_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)
WHEN = sa.DateTime(timezone=True)


def _provider(table: str, *, primary_key: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "provider_id",
        UUID,
        sa.ForeignKey(
            "providers.provider_id", name=f"fk_{table}_provider_id_providers", ondelete="CASCADE"
        ),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "dispatch_requests",
        sa.Column("request_id", UUID, primary_key=True),
        _provider("dispatch_requests"),
        sa.Column("client_id", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        *(
            sa.Column(name, sa.Double(), nullable=False)
            for name in ("pickup_lat", "pickup_lng", "dropoff_lat", "dropoff_lng")
        ),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("passengers", "wheelchairs", "weight_g", "volume_l")
        ),
        sa.Column("earliest_pickup", WHEN, nullable=False),
        sa.Column("latest_dropoff", WHEN, nullable=False),
        sa.Column("max_ride_s", sa.Integer(), nullable=False),
        sa.Column("device_id", UUID, nullable=False),
        sa.Column("trip_id", UUID, nullable=False),
        sa.Column("journey_id", UUID),
        *(
            sa.Column(name, WHEN, nullable=False)
            for name in ("pickup_from", "pickup_to", "dropoff_from", "dropoff_to")
        ),
        sa.Column("pinned_at", WHEN),
        sa.Column("picked_up_at", WHEN),
        sa.Column("finished_at", WHEN),
        sa.Column("reason", sa.String(200)),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_index(
        "uq_dispatch_requests_client",
        "dispatch_requests",
        ["provider_id", "client_id"],
        unique=True,
        postgresql_where="client_id IS NOT NULL",
    )
    op.create_index(
        "uq_dispatch_requests_trip", "dispatch_requests", ["provider_id", "trip_id"], unique=True
    )
    op.create_index(
        "ix_dispatch_requests_active",
        "dispatch_requests",
        ["provider_id", "state"],
        postgresql_where="state IN ('assigned', 'picked_up')",
    )
    op.create_index(
        "ix_dispatch_requests_provider_updated",
        "dispatch_requests",
        ["provider_id", "updated_at", "request_id"],
    )
    op.create_table(
        "dispatch_request_changes",
        sa.Column("change_id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "request_id",
            UUID,
            sa.ForeignKey(
                "dispatch_requests.request_id",
                name="fk_dispatch_request_changes_request_id_dispatch_requests",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("message", sa.String(200)),
    )
    op.create_index(
        "ix_dispatch_request_changes_request",
        "dispatch_request_changes",
        ["request_id", "change_id"],
    )
    op.create_table(
        "dispatch_schedules",
        _provider("dispatch_schedules", primary_key=True),
        sa.Column("device_id", UUID, primary_key=True),
        sa.Column("stops", postgresql.JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("planned_at", WHEN, nullable=False),
        sa.Column("command_id", UUID),
    )
    op.create_table(
        "dispatch_settings",
        _provider("dispatch_settings", primary_key=True),
        sa.Column("settings", postgresql.JSONB(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "dispatch_settings",
        "dispatch_schedules",
        "dispatch_request_changes",
        "dispatch_requests",
    ):
        op.drop_table(table)
