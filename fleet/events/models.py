"""Stored MDS events."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Identity, Index, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class VehicleEvent(Base):
    """An MDS Event as received; `anomaly` marks a transition the mode's table does not allow."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_device_occurred", "device_id", text("occurred_at DESC")),
        Index("ix_events_provider_occurred", "provider_id", "occurred_at"),
        # City-wide reads (Provider hours, exports, metrics) filter on time alone.
        Index("ix_events_occurred", "occurred_at"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # Arrival order: breaks ties between events of one device with the same timestamp.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    provider_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    vehicle_state: Mapped[str] = mapped_column(String(32))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    trip_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    anomaly: Mapped[bool] = mapped_column(Boolean, server_default="false")
    record: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
