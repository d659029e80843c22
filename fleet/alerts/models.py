"""Stored alerts."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Double, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class AlertRecord(Base):
    """One alert: a zone transition or a rule violation of one vehicle."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_provider_occurred", "provider_id", text("occurred_at DESC")),
        Index("ix_alerts_device_occurred", "device_id", text("occurred_at DESC")),
    )

    alert_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(40))
    zone_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lat: Mapped[float] = mapped_column(Double)
    lng: Mapped[float] = mapped_column(Double)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
