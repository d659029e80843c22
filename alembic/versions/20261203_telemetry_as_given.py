"""Telemetry as given: fields MDS leaves open are kept, satellites hold 64 bits.

Revision ID: 20261203_0010
Revises: 20261202_0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261203_0010"
down_revision: str | None = "20261202_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `extras` and widen `satellites`; on the partitioned parent, both reach every
    partition, existing and future."""
    op.add_column("telemetry", sa.Column("extras", postgresql.JSONB(), nullable=True))
    op.alter_column(
        "telemetry", "satellites", type_=sa.BigInteger(), existing_type=sa.SmallInteger()
    )


def downgrade() -> None:
    """Back to 16-bit satellites; fails while a stored count exceeds them. Extras are lost."""
    op.alter_column(
        "telemetry", "satellites", type_=sa.SmallInteger(), existing_type=sa.BigInteger()
    )
    op.drop_column("telemetry", "extras")
