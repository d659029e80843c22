"""Trips, built from events and measured along telemetry."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Double, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Trip(Base):
    """One trip: opened by its start event, closed (measured) by its end or cancel event.

    Events may arrive in any order, so either end may be known first; a trip is measured
    once both are.
    """

    __tablename__ = "trips"
    __table_args__ = (
        Index("ix_trips_provider_end", "provider_id", "end_at"),
        Index("ix_trips_device_start", "device_id", "start_at"),
        # City-wide reads filter on time alone: by end (Provider, exports), start (metrics).
        Index("ix_trips_end", "end_at"),
        Index("ix_trips_start", "start_at"),
    )

    trip_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    start_lat: Mapped[float | None] = mapped_column(Double)
    start_lng: Mapped[float | None] = mapped_column(Double)
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_lat: Mapped[float | None] = mapped_column(Double)
    end_lng: Mapped[float | None] = mapped_column(Double)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    distance_m: Mapped[int | None] = mapped_column(Integer)
    route_points: Mapped[int | None] = mapped_column(Integer)
    has_gaps: Mapped[bool | None] = mapped_column(Boolean)
    parking_category: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def reported(alias: str) -> str:
    """SQL condition on `alias` for the trips the city is told about: closed, both ends located."""
    located = f"{alias}.start_lat IS NOT NULL AND {alias}.end_lat IS NOT NULL"
    return f"{alias}.status = 'closed' AND {located}"
