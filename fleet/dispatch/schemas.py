"""API shapes of dispatch: requests, their promises, pods, schedules and settings."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.bounded import SafeStr, UtcDateTime
from fleet.dispatch.states import RequestState
from fleet.rebalancing.schemas import Position

ClientRequestId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
]
MAX_WINDOW_S = 24 * 3600


class RequestKind(StrEnum):
    """A ride carries persons; a delivery carries goods."""

    RIDE = "ride"
    DELIVERY = "delivery"


class Parcel(BaseModel):
    """What a delivery carries."""

    model_config = ConfigDict(extra="forbid")

    weight_kg: float = Field(gt=0, le=1000)
    volume_l: float = Field(default=1.0, gt=0, le=5000)


class RequestCreate(BaseModel):
    """A ride or a delivery to plan at once; `request_id` makes retries safe."""

    model_config = ConfigDict(extra="forbid")

    kind: RequestKind
    pickup: Position
    dropoff: Position
    passengers: int = Field(default=0, ge=0, le=20, description="Rides: persons seated.")
    wheelchairs: int = Field(default=0, ge=0, le=4, description="Rides: wheelchair places.")
    parcel: Parcel | None = Field(default=None, description="Deliveries: what is carried.")
    earliest_pickup: UtcDateTime | None = Field(
        default=None, description="Not picked up before this; now if left out."
    )
    latest_dropoff: UtcDateTime | None = Field(
        default=None, description="Dropped off by this; the settings' default wait if left out."
    )
    desired_pickup: UtcDateTime | None = Field(
        default=None, description="Instead of earliest_pickup: a wished time, with tolerance_s."
    )
    tolerance_s: int = Field(
        default=600, ge=0, le=7200, description="How far from desired_pickup service may start."
    )
    max_ride_s: int | None = Field(
        default=None,
        ge=60,
        le=6 * 3600,
        description="Longest ride; by default the direct time x 1.5 + 5 min.",
    )
    request_id: ClientRequestId | None = Field(
        default=None, description="The caller's idempotency key, unique per provider."
    )
    journey_id: uuid.UUID | None = Field(
        default=None, description="The MDS journey the request belongs to, if the caller has one."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == RequestKind.RIDE:
            if self.passengers + self.wheelchairs == 0:
                raise ValueError("a ride needs passengers or wheelchairs")
            if self.parcel is not None:
                raise ValueError("a ride carries no parcel")
        else:
            if self.parcel is None:
                raise ValueError("a delivery needs a parcel")
            if self.passengers or self.wheelchairs:
                raise ValueError("a delivery carries no passengers")
        if self.desired_pickup is not None and self.earliest_pickup is not None:
            raise ValueError("give earliest_pickup or desired_pickup, not both")
        if self.pickup == self.dropoff:
            raise ValueError("pickup and dropoff are the same place")
        return self


class Promise(BaseModel):
    """When the pod will start service at the pickup and at the drop-off."""

    pickup_from: datetime
    pickup_to: datetime
    dropoff_from: datetime
    dropoff_to: datetime


class RequestChangeRead(BaseModel):
    """One change of a request's state."""

    at: datetime
    actor: str
    from_state: RequestState | None
    to_state: RequestState
    message: str | None


class RequestRead(BaseModel):
    """A request, the pod serving it, what it was promised and what happened."""

    request_id: uuid.UUID
    client_request_id: str | None
    provider_id: uuid.UUID
    kind: RequestKind
    state: RequestState
    device_id: uuid.UUID = Field(description="The pod serving it.")
    trip_id: uuid.UUID = Field(description="The MDS trip id the pod reports it under.")
    journey_id: uuid.UUID | None
    pickup: Position
    dropoff: Position
    passengers: int
    wheelchairs: int
    weight_kg: float
    volume_l: float
    earliest_pickup: datetime
    latest_dropoff: datetime
    max_ride_s: int
    promise: Promise
    planned_pickup_at: datetime | None = Field(description="From the pod's current schedule.")
    planned_dropoff_at: datetime | None
    picked_up_at: datetime | None
    finished_at: datetime | None
    reason: str | None
    requested_by: str
    created_at: datetime
    updated_at: datetime
    history: list[RequestChangeRead]


class RequestPage(BaseModel):
    """Requests, oldest change first; `next_since` continues after the last one."""

    data: list[RequestRead]
    next_since: str | None


class CancelBody(BaseModel):
    """Why a request is cancelled."""

    model_config = ConfigDict(extra="forbid")

    reason: SafeStr | None = Field(default=None, max_length=200)


class OutcomeState(StrEnum):
    """What an operator may record about a request by hand."""

    NO_SHOW = "no_show"
    FAILED = "failed"
    DELIVERED = "delivered"


class OutcomeBody(BaseModel):
    """An operator's record of how a request ended."""

    model_config = ConfigDict(extra="forbid")

    state: OutcomeState
    reason: SafeStr | None = Field(default=None, max_length=200)


class Capacity(BaseModel):
    """What a pod carries at most."""

    seats: int
    wheelchairs: int
    payload_kg: float
    volume_l: float


class PodRead(BaseModel):
    """A pod: whether it takes requests now, where it is, what it carries."""

    device_id: uuid.UUID
    vehicle_id: str
    dispatchable: bool
    why_not: str | None = Field(description="Why it takes no new requests, if it does not.")
    lat: float | None
    lng: float | None
    state: str | None
    battery_percent: int | None
    range_m: int
    capacity: Capacity
    stops: int = Field(description="Stops in its schedule.")
    onboard: int = Field(description="Requests on board now.")


class PodPage(BaseModel):
    """The provider's pods."""

    data: list[PodRead]


class ScheduledStopRead(BaseModel):
    """One stop of a pod's schedule."""

    request_id: uuid.UUID
    kind: str
    lat: float
    lng: float
    arrive_at: datetime
    start_at: datetime
    depart_at: datetime
    window_from: datetime
    window_to: datetime
    seats_after: int
    wheelchairs_after: int
    payload_kg_after: float


class ScheduleRead(BaseModel):
    """A pod's stops not yet done, in order, and the command that carried them to it."""

    device_id: uuid.UUID
    version: int
    planned_at: datetime | None
    command_id: uuid.UUID | None
    stops: list[ScheduledStopRead]


class DispatchSettingsBody(BaseModel):
    """How a provider's pods are planned; fields left out take their defaults."""

    model_config = ConfigDict(extra="forbid")

    seats: int = Field(default=4, ge=0, le=20, description="Seats of a pod.")
    wheelchairs: int = Field(
        default=1, ge=0, le=4, description="Wheelchair places of a wheelchair-accessible pod."
    )
    payload_kg: float = Field(default=60.0, ge=0, le=2000, description="Goods a pod carries.")
    volume_l: float = Field(
        default=200.0, ge=0, le=10000, description="Goods volume (storage_capacity wins)."
    )
    full_range_km: float = Field(default=60.0, gt=0, le=1000, description="Range when full.")
    battery_reserve_percent: int = Field(
        default=20, ge=0, le=90, description="Below it a pod goes to charge, taking no requests."
    )
    speed_kmh: float = Field(default=14.0, gt=0, le=130, description="A pod's average speed.")
    detour_factor: float = Field(default=1.3, ge=1, le=3)
    boarding_s: int = Field(default=60, ge=0, le=1800, description="Service time at a pickup.")
    alighting_s: int = Field(default=60, ge=0, le=1800, description="At a drop-off.")
    promise_early_s: int = Field(
        default=120, ge=0, le=3600, description="How much earlier than planned a promise starts."
    )
    promise_late_s: int = Field(
        default=600, ge=0, le=7200, description="How much later than planned a promise ends."
    )
    default_wait_s: int = Field(
        default=3600,
        ge=300,
        le=MAX_WINDOW_S,
        description="Without latest_dropoff: how long after earliest_pickup a pickup may be.",
    )
    route_hours: float = Field(
        default=12.0, gt=0, le=24, description="How far ahead a pod's schedule may reach."
    )
