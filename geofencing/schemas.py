"""API shapes of zones (/v1/zones) and geofence checks."""

import uuid
from datetime import datetime, time
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.bounded import JsonObject, SafeStr, SafeText, UtcDateTime
from app.core.mds import VehicleType
from geofencing.rules import ParkingMode, ZoneKind

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# The fields that say whom and when a zone's rule binds.
_WHOM_AND_WHEN = ("vehicle_types", "days", "start_time", "end_time")


class ZoneFields(BaseModel):
    """What a planner or operator says about a zone."""

    model_config = ConfigDict(extra="forbid")

    name: SafeStr = Field(min_length=1, max_length=255)
    description: SafeText | None = Field(default=None, max_length=2000)
    kind: ZoneKind
    geometry: JsonObject = Field(
        description="GeoJSON Polygon or MultiPolygon, [longitude, latitude], holes allowed."
    )
    max_speed_kph: int | None = Field(default=None, ge=1, le=120)
    parking: ParkingMode | None = None
    vehicle_types: list[VehicleType] | None = Field(default=None, min_length=1)
    days: list[Day] | None = Field(default=None, min_length=1)
    start_time: time | None = Field(default=None, description="Local time in the city.")
    end_time: time | None = Field(
        default=None, description="Local time; before start: past midnight."
    )
    effective_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind is ZoneKind.SLOW and self.max_speed_kph is None:
            raise ValueError("a slow zone needs max_speed_kph")
        if self.kind is not ZoneKind.SLOW and self.max_speed_kph is not None:
            raise ValueError("max_speed_kph belongs to slow zones only")
        if self.kind is ZoneKind.PARKING and self.parking is None:
            raise ValueError("a parking zone needs parking: preferred or mandatory")
        if self.kind is not ZoneKind.PARKING and self.parking is not None:
            raise ValueError("parking belongs to parking zones only")
        if self.kind is ZoneKind.RESTRICTED and not self.vehicle_types:
            raise ValueError("a restricted zone needs vehicle_types")
        if self.kind is ZoneKind.DISTRICT:
            ruled = [n for n in _WHOM_AND_WHEN if getattr(self, n) is not None]
            if ruled:
                raise ValueError(f"a district carries no rule: drop {', '.join(ruled)}")
        if (self.start_time is None) != (self.end_time is None):
            raise ValueError("give both start_time and end_time, or neither")
        if self.start_time is not None and self.start_time == self.end_time:
            raise ValueError("start_time and end_time must differ")
        return self


class ZoneCreate(ZoneFields):
    """A new zone; `provider_id` limits it to one operator's fleet (forced for operators)."""

    provider_id: uuid.UUID | None = None


class ZoneUpdate(ZoneFields):
    """A new version of a zone: every field again (zones are immutable)."""


class ZoneRead(BaseModel):
    """One version of a zone."""

    zone_id: uuid.UUID
    lineage_id: uuid.UUID
    version: int
    name: str
    description: str | None
    kind: ZoneKind
    provider_id: uuid.UUID | None
    geometry: dict[str, Any]
    max_speed_kph: int | None
    parking: ParkingMode | None
    vehicle_types: list[str] | None
    days: list[str] | None
    start_time: time | None
    end_time: time | None
    resolution: int
    prev_zone_ids: list[uuid.UUID]
    published_at: datetime
    effective_at: datetime
    retired_at: datetime | None
    interior_cells: int
    boundary_cells: int


class ZoneRuleRead(BaseModel):
    """A zone that applies at a point, and what it means there now."""

    zone_id: uuid.UUID
    name: str
    kind: ZoneKind
    rule: str
    max_speed_kph: int | None
    parking: ParkingMode | None


class GeofencePoint(BaseModel):
    """A point to check."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)


class GeofenceCheck(BaseModel):
    """Points to check, for a vehicle type, at a time (default: now)."""

    model_config = ConfigDict(extra="forbid")

    points: list[GeofencePoint] = Field(min_length=1, max_length=10_000)
    vehicle_type: VehicleType | None = None
    at: UtcDateTime | None = None


class GeofenceAnswer(BaseModel):
    """The zones and rules at each point, in the order given."""

    results: list[list[ZoneRuleRead]]
