"""Device ids are unique per provider: vehicles and telemetry are keyed by provider too.

Revision ID: 20261202_0009
Revises: 20261126_0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261202_0009"
down_revision: str | None = "20261126_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Key vehicles by (provider, device) and telemetry by (provider, device, time)."""
    op.drop_constraint("pk_vehicles", "vehicles", type_="primary")
    op.create_primary_key("pk_vehicles", "vehicles", ["provider_id", "device_id"])
    # The new key serves the provider's own lookups; city-wide reads look a device up alone.
    op.drop_index("ix_vehicles_provider_device", table_name="vehicles")
    op.create_index("ix_vehicles_device", "vehicles", ["device_id"])
    # On the partitioned parent, the key is rebuilt on every partition.
    op.drop_constraint("pk_telemetry", "telemetry", type_="primary")
    op.create_primary_key("pk_telemetry", "telemetry", ["provider_id", "device_id", "recorded_at"])


def downgrade() -> None:
    """Back to global device ids; fails while two providers hold the same device_id."""
    op.drop_constraint("pk_telemetry", "telemetry", type_="primary")
    op.create_primary_key("pk_telemetry", "telemetry", ["device_id", "recorded_at"])
    op.drop_index("ix_vehicles_device", table_name="vehicles")
    op.create_index("ix_vehicles_provider_device", "vehicles", ["provider_id", "device_id"])
    op.drop_constraint("pk_vehicles", "vehicles", type_="primary")
    op.create_primary_key("pk_vehicles", "vehicles", ["device_id"])
