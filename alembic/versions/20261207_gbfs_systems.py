"""GBFS systems: one per provider, with its public texts and its vehicle-id secret.

Revision ID: 20261207_0017
Revises: 20261206_0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261207_0017"
down_revision: str | None = "20261206_0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gbfs_systems",
        sa.Column(
            "provider_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(
                "providers.provider_id",
                name="fk_gbfs_systems_provider_id_providers",
                ondelete="CASCADE",
            ),
            primary_key=True,
        ),
        sa.Column("system_id", sa.String(64), nullable=False),
        sa.Column("settings", postgresql.JSONB(), nullable=False),
        sa.Column("id_secret", sa.LargeBinary(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("system_id", name="uq_gbfs_systems_system_id"),
    )


def downgrade() -> None:
    op.drop_table("gbfs_systems")
