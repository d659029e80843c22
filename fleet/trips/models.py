"""Trips, built from events and measured along telemetry."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Trip(Base):
    """One trip: opened by its start event, closed (measured) by its end or cancel event,
    or posted whole by its operator.

    Events may arrive in any order, so either end may be known first; a trip is measured
    once both are, and again when telemetry of its span arrives later. The city's figures
    are the operator's where given, else fleetbed's measurement; both are kept. Once the
    trip's end hour is served as settled, the city's figures stay and a later measurement
    is recorded in the `late_*` columns.
    """

    __tablename__ = "trips"
    __table_args__ = (
        Index("ix_trips_provider_end", "provider_id", "end_at"),
        Index("ix_trips_device_start", "device_id", "start_at"),
        # City-wide reads filter on time alone: by end (Provider, exports), start (metrics).
        Index("ix_trips_end", "end_at"),
        Index("ix_trips_start", "start_at"),
        # Late telemetry looks for the closed trips of its devices ending after its points.
        Index(
            "ix_trips_closed_device_end",
            "provider_id",
            "device_id",
            "end_at",
            postgresql_where=text("status = 'closed'"),
        ),
        Index(
            "ix_trips_flagged_end",
            "end_at",
            "trip_id",
            postgresql_where=text("discrepancies <> '{}'"),
        ),
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
    # The city's figures.
    duration_s: Mapped[int | None] = mapped_column(BigInteger)
    distance_m: Mapped[int | None] = mapped_column(BigInteger)
    parking_category: Mapped[str | None] = mapped_column(String(16))
    # As the operator posted them.
    operator_duration_s: Mapped[int | None] = mapped_column(BigInteger)
    operator_distance_m: Mapped[int | None] = mapped_column(BigInteger)
    operator_parking_category: Mapped[str | None] = mapped_column(String(16))
    # Fleetbed's measurement from events, zones and telemetry.
    measured_duration_s: Mapped[int | None] = mapped_column(BigInteger)
    measured_distance_m: Mapped[int | None] = mapped_column(BigInteger)
    measured_parking_category: Mapped[str | None] = mapped_column(String(16))
    measured_route_points: Mapped[int | None] = mapped_column(Integer)
    measured_has_gaps: Mapped[bool | None] = mapped_column(Boolean)
    # A measurement made after the end hour was served as settled.
    late_distance_m: Mapped[int | None] = mapped_column(BigInteger)
    late_route_points: Mapped[int | None] = mapped_column(Integer)
    late_has_gaps: Mapped[bool | None] = mapped_column(Boolean)
    late_measured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The figures whose two values differ by more than the configured share.
    discrepancies: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def reported(alias: str) -> str:
    """SQL condition on `alias` for the trips the city is told about: closed, both ends located."""
    located = f"{alias}.start_lat IS NOT NULL AND {alias}.end_lat IS NOT NULL"
    return f"{alias}.status = 'closed' AND {located}"
