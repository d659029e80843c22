"""API shapes of tasks, their history and the task rules."""

import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.bounded import QueryText, SafeText, UtcDateTime
from app.core.mds import VehicleType
from fleet.tasks.kinds import PLACE_KINDS, TaskKind
from fleet.tasks.rules import TaskRules
from fleet.tasks.states import TaskState

Latitude = Field(ge=-90, le=90)
Longitude = Field(ge=-180, le=180)
DEFAULTS = TaskRules()
MAX_MINUTES = 10_080  # a week


class TaskPosition(BaseModel):
    """A point on the ground."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Latitude
    lng: float = Longitude


class TaskCreate(BaseModel):
    """A task opened by a manager: bound to a vehicle, or (drop-offs, deployments) a place."""

    model_config = ConfigDict(extra="forbid")

    kind: TaskKind
    device_id: uuid.UUID | None = None
    place: TaskPosition | None = None
    priority: int = Field(default=1, ge=0, le=100, description="Higher is more urgent.")
    due_at: UtcDateTime | None = None
    note: SafeText | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _bound(self) -> Self:
        if self.kind in PLACE_KINDS:
            if self.place is None or self.device_id is not None:
                raise ValueError(f"a {self.kind.value} task takes a place and no device_id")
        elif self.device_id is None:
            raise ValueError(f"a {self.kind.value} task takes a device_id")
        return self


class TaskUpdate(BaseModel):
    """A manager's change of priority or due time."""

    model_config = ConfigDict(extra="forbid")

    priority: int | None = Field(default=None, ge=0, le=100)
    due_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.priority is None and self.due_at is None:
            raise ValueError("give priority or due_at")
        return self


class TaskAssign(BaseModel):
    """Whom a manager gives the task to: an agent's key id."""

    model_config = ConfigDict(extra="forbid")

    assignee: QueryText = Field(min_length=1)


class TaskComplete(BaseModel):
    """What an agent reports on finishing."""

    model_config = ConfigDict(extra="forbid")

    note: SafeText | None = Field(default=None, max_length=2000)
    position: TaskPosition | None = None


class TaskRead(BaseModel):
    """One task."""

    task_id: uuid.UUID
    provider_id: uuid.UUID
    kind: TaskKind
    device_id: uuid.UUID | None
    lat: float | None
    lng: float | None
    priority: int
    due_at: datetime | None
    state: TaskState
    assignee: str | None
    created_by: str
    note: str | None
    closed_by: str | None
    closed_reason: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    change_seq: int
    plan_id: uuid.UUID | None = Field(
        default=None, description="The rebalancing plan the task was dispatched from."
    )
    plan_stop: int | None = Field(
        default=None, description="The stop's place in the plan: route after route, 1 first."
    )
    quantity: int | None = Field(
        default=None, description="Vehicles to leave at a drop-off or deployment."
    )
    distance_m: float | None = None


class TaskPage(BaseModel):
    """A page of tasks; `cursor` is what to poll `?since=` with next (an opaque text)."""

    data: list[TaskRead]
    links: dict[str, str | None]
    cursor: str | None


class TaskChangeRead(BaseModel):
    """One entry of a task's history."""

    change_id: int
    at: datetime
    actor: str
    action: str
    from_state: TaskState | None
    to_state: TaskState
    details: dict[str, Any]


class TaskDetail(TaskRead):
    """A task with its history."""

    history: list[TaskChangeRead]


class TaskSummary(BaseModel):
    """Counts for a dashboard."""

    by_kind: dict[str, int]
    by_state: dict[str, int]
    active_by_age: dict[str, int]


class TaskRulesBody(BaseModel):
    """A provider's task rules."""

    model_config = ConfigDict(extra="forbid")

    battery_below_percent: int = Field(default=DEFAULTS.battery_below_percent, ge=0, le=100)
    battery_below_by_vehicle_type: dict[VehicleType, int] = Field(default_factory=dict)
    battery_swap_due_minutes: int = Field(
        default=DEFAULTS.battery_swap_due_minutes, ge=1, le=MAX_MINUTES
    )
    relocate_due_minutes: int = Field(default=DEFAULTS.relocate_due_minutes, ge=1, le=MAX_MINUTES)
    collect_due_minutes: int = Field(default=DEFAULTS.collect_due_minutes, ge=1, le=MAX_MINUTES)
    inspect_after_hours: int = Field(default=DEFAULTS.inspect_after_hours, ge=1, le=720)
    inspect_due_minutes: int = Field(default=DEFAULTS.inspect_due_minutes, ge=1, le=MAX_MINUTES)

    @model_validator(mode="after")
    def _percentages(self) -> Self:
        if any(not 0 <= v <= 100 for v in self.battery_below_by_vehicle_type.values()):
            raise ValueError("battery thresholds are percentages (0..100)")
        return self
