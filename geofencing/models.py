"""Zones (published like MDS geographies: immutable versions) and their H3 covers."""

import uuid
from datetime import datetime, time
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    Time,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Zone(Base):
    """One published version of a zone; an edit publishes a new row naming this one."""

    __tablename__ = "zones"
    __table_args__ = (
        Index("ix_zones_geometry", "geometry", postgresql_using="gist"),
        Index("ix_zones_lineage", "lineage_id"),
    )

    zone_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lineage_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    version: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("providers.provider_id", ondelete="CASCADE")
    )
    max_speed_kph: Mapped[int | None] = mapped_column(SmallInteger)
    parking: Mapped[str | None] = mapped_column(String(16))
    vehicle_types: Mapped[list[str] | None] = mapped_column(ARRAY(String(32)))
    days: Mapped[list[str] | None] = mapped_column(ARRAY(String(3)))
    start_time: Mapped[time | None] = mapped_column(Time)
    end_time: Mapped[time | None] = mapped_column(Time)
    geometry: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    resolution: Mapped[int] = mapped_column(SmallInteger)
    prev_zone_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    published_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(32))


class ZoneCell(Base):
    """An H3 cell of a zone's cover: interior cells need no exact test."""

    __tablename__ = "zone_cells"

    zone_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("zones.zone_id", ondelete="CASCADE"), primary_key=True
    )
    cell: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    interior: Mapped[bool] = mapped_column(Boolean)


class PolicyRecord(Base):
    """A published MDS policy; `record` is the policy as MDS JSON (immutable)."""

    __tablename__ = "policies"
    __table_args__ = (Index("ix_policies_window", "start_at", "end_at"),)

    policy_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSONB)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    prev_policy_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    created_by: Mapped[str | None] = mapped_column(String(32))
