"""Stored dispatch: requests for rides and deliveries, their history, the pods' schedules
and each provider's dispatch settings."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Double, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base

ACTIVE_STATES = ("assigned", "picked_up")


class DispatchRequest(Base):
    """A ride or a delivery: what was asked, the pod serving it and what it was promised."""

    __tablename__ = "dispatch_requests"
    __table_args__ = (
        # A booking service's retry of one request finds the stored one.
        Index(
            "uq_dispatch_requests_client",
            "provider_id",
            "client_id",
            unique=True,
            postgresql_where=text("client_id IS NOT NULL"),
        ),
        # The pods' MDS events name the request by its trip id.
        Index("uq_dispatch_requests_trip", "provider_id", "trip_id", unique=True),
        Index(
            "ix_dispatch_requests_active",
            "provider_id",
            "state",
            postgresql_where=text("state IN ('assigned', 'picked_up')"),
        ),
        Index("ix_dispatch_requests_provider_updated", "provider_id", "updated_at", "request_id"),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("providers.provider_id", ondelete="CASCADE")
    )
    client_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    pickup_lat: Mapped[float] = mapped_column(Double)
    pickup_lng: Mapped[float] = mapped_column(Double)
    dropoff_lat: Mapped[float] = mapped_column(Double)
    dropoff_lng: Mapped[float] = mapped_column(Double)
    passengers: Mapped[int] = mapped_column(Integer)
    wheelchairs: Mapped[int] = mapped_column(Integer)
    weight_g: Mapped[int] = mapped_column(Integer)
    volume_l: Mapped[int] = mapped_column(Integer)
    earliest_pickup: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    latest_dropoff: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_ride_s: Mapped[int] = mapped_column(Integer)
    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    # The MDS trip the pod reports this request under (its events' `trip_ids`).
    trip_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    journey_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    pickup_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pickup_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    dropoff_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    dropoff_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when the pod reports it is on its way (reservation_start): it stays on that pod.
    pinned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the pod reports the pickup: the ride-time promise counts from here.
    picked_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DispatchRequestChange(Base):
    """One change of a request's state: who, when, from which state to which, and why."""

    __tablename__ = "dispatch_request_changes"
    __table_args__ = (Index("ix_dispatch_request_changes_request", "request_id", "change_id"),)

    change_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("dispatch_requests.request_id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(String(200))


class PodSchedule(Base):
    """A pod's stops not yet done, in order, as last planned; `version` grows per change."""

    __tablename__ = "dispatch_schedules"

    provider_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("providers.provider_id", ondelete="CASCADE"),
        primary_key=True,
    )
    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    stops: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    planned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The set_route command that carried this version to the pod.
    command_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class DispatchSettingsRecord(Base):
    """A provider's dispatch settings; a provider without a row gets the defaults."""

    __tablename__ = "dispatch_settings"

    provider_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("providers.provider_id", ondelete="CASCADE"),
        primary_key=True,
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
