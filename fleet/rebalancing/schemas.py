"""API shapes of the demand forecast, the targets per cell and the rebalancing plans."""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.bounded import SafeStr, UtcDateTime
from app.core.mds import VehicleType

Latitude = Field(ge=-90, le=90)
Longitude = Field(ge=-180, le=180)
MAX_HORIZON_H = 48
MAX_VANS = 50


class Position(BaseModel):
    """A point on the ground."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Latitude
    lng: float = Longitude


class CellForecast(BaseModel):
    """Expected trip starts and ends of one cell, hour by hour (the hours of the answer)."""

    cell: str
    starts: list[float]
    ends: list[float]


class ForecastRead(BaseModel):
    """Expected trip starts and ends per H3 cell and hour."""

    resolution: int
    vehicle_type: VehicleType | None
    history_from: datetime
    history_to: datetime
    hours: list[datetime]
    cells: list[CellForecast]


class CellTargetRead(BaseModel):
    """One cell's vehicles of one type: now, wanted for the horizon, and the difference."""

    cell: str
    vehicle_type: VehicleType
    supply: int = Field(description="Available vehicles with battery enough to rent.")
    target: int = Field(description="Vehicles that keep the cell from running out.")
    surplus: int = Field(description="supply - target; below zero a deficit.")
    expected_starts: float
    expected_ends: float
    hub: bool = Field(description="The cell holds a parking hub.")


class TargetsRead(BaseModel):
    """Targets per cell for the next `horizon_h` hours, with fleet-wide totals."""

    horizon_h: int
    service_level: float
    resolution: int
    computed_at: datetime
    supply: int
    target: int
    cells_in_deficit: int
    cells: list[CellTargetRead]


class VanIn(BaseModel):
    """A van for a plan: where it starts (or whose agent drives it), its capacity and shift."""

    model_config = ConfigDict(extra="forbid")

    van_id: SafeStr = Field(max_length=64)
    agent_id: SafeStr | None = Field(
        default=None,
        max_length=64,
        description="The field agent key that drives it; the dispatched tasks are theirs.",
    )
    start: Position = Field(description="Where the van is now.")
    depot: Position | None = Field(default=None, description="Where it ends; its start if none.")
    capacity: int = Field(ge=1, le=200, description="Vehicles it carries at most.")
    shift_end: UtcDateTime = Field(description="When it must be back at its depot.")
    batteries: int = Field(
        default=0, ge=0, le=1000, description="Charged batteries on board, to swap on board."
    )


class PlanCreate(BaseModel):
    """What to plan for: the vans, the horizon and service level of the targets."""

    model_config = ConfigDict(extra="forbid")

    vans: list[VanIn] = Field(min_length=1, max_length=MAX_VANS)
    vehicle_type: VehicleType | None = Field(
        default=None, description="The vehicle type to move; needed when the fleet has several."
    )
    horizon_h: int = Field(default=4, ge=1, le=MAX_HORIZON_H)
    service_level: float = Field(default=0.9, gt=0, lt=1)
    resolution: int = Field(default=8, ge=7, le=9)
    time_limit_s: float = Field(default=10.0, gt=0, description="Search time of the solver.")


class StopRead(BaseModel):
    """One stop of a van's route."""

    kind: Literal["start", "pickup", "dropoff", "depot"]
    cell: str | None
    lat: float
    lng: float
    arrive_at: datetime
    depart_at: datetime
    picked: list[str]
    dropped: list[str]
    dropped_stock: int
    swapped: list[str]
    to_depot: list[str]
    load_after: int


class RouteRead(BaseModel):
    """One van's route."""

    van_id: str
    agent_id: str | None
    stops: list[StopRead]


class BalanceRead(BaseModel):
    """How far the cells are from their targets."""

    cells_in_deficit: int
    deficit: int = Field(description="Vehicles lacking, summed over the cells in deficit.")
    surplus: int = Field(description="Vehicles too many, summed over the cells in surplus.")


class PlanRead(BaseModel):
    """A rebalancing plan: `computing`, `ready`, `failed` or `dispatched`."""

    plan_id: uuid.UUID
    provider_id: uuid.UUID
    state: Literal["computing", "ready", "failed", "dispatched"]
    created_by: str
    created_at: datetime
    request: dict[str, Any]
    error: str | None = None
    routes: list[RouteRead] | None = None
    travel_s: int | None = None
    unserved: int | None = None
    objective: int | None = None
    solver: str | None = None
    before: BalanceRead | None = None
    after: BalanceRead | None = None
    dispatched_at: datetime | None = None
    task_ids: list[uuid.UUID] | None = Field(
        default=None, description="The tasks the dispatch created, route by route, in order."
    )


class PlanPage(BaseModel):
    """A page of plans, without their routes (read a plan for those)."""

    data: list[PlanRead]
    links: dict[str, str | None]
