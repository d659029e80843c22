"""Zones (versioned, immutable) and their H3 covers.

Revision ID: 20261126_0003
Revises: 20261126_0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261126_0003"
down_revision: str | None = "20261126_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    """Create zones and zone_cells."""
    op.create_table(
        "zones",
        sa.Column("zone_id", UUID, nullable=False),
        sa.Column("lineage_id", UUID, nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("provider_id", UUID, nullable=True),
        sa.Column("max_speed_kph", sa.SmallInteger(), nullable=True),
        sa.Column("parking", sa.String(16), nullable=True),
        sa.Column("vehicle_types", postgresql.ARRAY(sa.String(32)), nullable=True),
        sa.Column("days", postgresql.ARRAY(sa.String(3)), nullable=True),
        sa.Column("start_time", sa.Time(), nullable=True),
        sa.Column("end_time", sa.Time(), nullable=True),
        sa.Column(
            "geometry",
            Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column("resolution", sa.SmallInteger(), nullable=False),
        sa.Column("prev_zone_ids", postgresql.ARRAY(UUID), nullable=True),
        sa.Column(
            "published_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("zone_id", name=op.f("pk_zones")),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.provider_id"],
            name=op.f("fk_zones_provider_id_providers"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_zones_geometry", "zones", ["geometry"], postgresql_using="gist")
    op.create_index("ix_zones_lineage", "zones", ["lineage_id"])
    op.create_table(
        "zone_cells",
        sa.Column("zone_id", UUID, nullable=False),
        sa.Column("cell", sa.BigInteger(), nullable=False),
        sa.Column("interior", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("zone_id", "cell", name=op.f("pk_zone_cells")),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["zones.zone_id"],
            name=op.f("fk_zone_cells_zone_id_zones"),
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    """Drop the zone tables."""
    op.drop_table("zone_cells")
    op.drop_table("zones")
