"""Providers, API keys and the vehicle registry.

Revision ID: 20261126_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261126_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tenant and registry tables (and PostGIS, where we may)."""
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "providers",
        sa.Column("provider_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("provider_id", name=op.f("pk_providers")),
        sa.UniqueConstraint("name", name=op.f("uq_providers_name")),
        sa.CheckConstraint(
            "mode IN ('micromobility','passenger-services','delivery-robots','car-share')",
            name=op.f("ck_providers_mode"),
        ),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("provider_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.provider_id"],
            name=op.f("fk_api_keys_provider_id_providers"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_api_keys_provider_id"), "api_keys", ["provider_id"])
    op.create_table(
        "vehicles",
        sa.Column("device_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("provider_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("vehicle_id", sa.String(255), nullable=False),
        sa.Column("vehicle_type", sa.String(32), nullable=False),
        sa.Column("record", postgresql.JSONB(), nullable=False),
        sa.Column(
            "registered_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_vehicles")),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.provider_id"],
            name=op.f("fk_vehicles_provider_id_providers"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_vehicles_provider_device", "vehicles", ["provider_id", "device_id"])


def downgrade() -> None:
    """Drop the tables; PostGIS stays, other databases' objects may depend on it."""
    op.drop_index("ix_vehicles_provider_device", table_name="vehicles")
    op.drop_table("vehicles")
    op.drop_index(op.f("ix_api_keys_provider_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("providers")
