"""Telemetry history: one row per point, range-partitioned by day on `recorded_at`."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Double, Index, SmallInteger, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class TelemetryPoint(Base):
    """A stored MDS Telemetry point; (provider_id, device_id, recorded_at) makes replays
    idempotent, since device ids are unique per provider only."""

    __tablename__ = "telemetry"
    __table_args__ = (
        # Points arrive roughly in time order, so a BRIN index serves hour ranges cheaply.
        Index("ix_telemetry_recorded_brin", "recorded_at", postgresql_using="brin"),
        {"postgresql_partition_by": "RANGE (recorded_at)"},
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    telemetry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    lat: Mapped[float] = mapped_column(Double)
    lng: Mapped[float] = mapped_column(Double)
    altitude: Mapped[float | None] = mapped_column(Double)
    heading: Mapped[float | None] = mapped_column(Double)
    speed: Mapped[float | None] = mapped_column(Double)
    horizontal_accuracy: Mapped[float | None] = mapped_column(Double)
    vertical_accuracy: Mapped[float | None] = mapped_column(Double)
    satellites: Mapped[int | None] = mapped_column(BigInteger)
    battery_percent: Mapped[int | None] = mapped_column(SmallInteger)
    fuel_percent: Mapped[int | None] = mapped_column(SmallInteger)
    trip_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    journey_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    stop_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    data_provider_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    location_type: Mapped[str | None] = mapped_column(String(16))
    tipped_over: Mapped[bool | None] = mapped_column(Boolean)
    # Fields MDS leaves open and fleetbed does not define, as given; null when none.
    extras: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
