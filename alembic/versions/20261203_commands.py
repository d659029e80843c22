"""Vehicle commands and the history of their states.

Revision ID: 20261203_0013
Revises: 20261203_0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "20261203_0013"
down_revision: str | None = "20261203_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("command_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("provider_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("device_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("client_id", sa.String(64)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("ttl_s", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text()),
        sa.ForeignKeyConstraint(
            ["provider_id", "device_id"],
            ["vehicles.provider_id", "vehicles.device_id"],
            name="fk_commands_provider_id_vehicles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("provider_id", "client_id", name="uq_commands_provider_id"),
    )
    op.create_index(
        "ix_commands_device_created",
        "commands",
        ["provider_id", "device_id", sa.text("created_at DESC")],
    )
    op.create_index(
        "ix_commands_open",
        "commands",
        ["provider_id", "created_at"],
        postgresql_where=sa.text("state IN ('pending', 'delivered', 'accepted')"),
    )
    op.create_table(
        "command_changes",
        sa.Column("change_id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "command_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(
                "commands.command_id",
                name="fk_command_changes_command_id_commands",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(12)),
        sa.Column("to_state", sa.String(12), nullable=False),
        sa.Column("message", sa.Text()),
    )
    op.create_index("ix_command_changes_command", "command_changes", ["command_id", "change_id"])


def downgrade() -> None:
    op.drop_table("command_changes")
    op.drop_table("commands")
