"""Stored commands and their history."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Command(Base):
    """One command to one vehicle; `client_id` is the caller's idempotency key."""

    __tablename__ = "commands"
    __table_args__ = (
        ForeignKeyConstraint(
            ["provider_id", "device_id"],
            ["vehicles.provider_id", "vehicles.device_id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("provider_id", "client_id"),
        Index("ix_commands_device_created", "provider_id", "device_id", text("created_at DESC")),
        # What gateways poll for and the expiry job scans: the unfinished ones.
        Index(
            "ix_commands_open",
            "provider_id",
            "created_at",
            postgresql_where=text("state IN ('pending', 'delivered', 'accepted')"),
        ),
    )

    command_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    client_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(12))
    issued_by: Mapped[str] = mapped_column(String(64))
    ttl_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)


class CommandChange(Base):
    """One change of a command's state: who, when, from, to, and the message given."""

    __tablename__ = "command_changes"
    __table_args__ = (Index("ix_command_changes_command", "command_id", "change_id"),)

    change_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    command_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("commands.command_id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    message: Mapped[str | None] = mapped_column(Text)
